#include "sparsebytenn/version.h"
namespace sbnn {
const char* version() { return "0.1.0"; }
}  // namespace sbnn
