#pragma once
namespace sbnn {
// Version of the packed weight format; bumped when the layout changes.
constexpr int kPackedFormatVersion = 1;
const char* version();
}  // namespace sbnn
