#include <pybind11/pybind11.h>
#include "sparsebytenn/version.h"
PYBIND11_MODULE(_kernels, m) {
  m.doc() = "SparseByteNN group-sparse kernels (pack + run on numpy arrays)";
  m.def("version", &sbnn::version);
}
