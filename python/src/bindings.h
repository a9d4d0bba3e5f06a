#pragma once

#include <pybind11/pybind11.h>

// Each function adds one layer's names to the ravnest._C module.
void bindErrors(pybind11::module_& m);
void bindTransport(pybind11::module_& m);
void bindCluster(pybind11::module_& m);
void bindCollectives(pybind11::module_& m);
void bindNode(pybind11::module_& m);
void bindSimulator(pybind11::module_& m);
void bindMatchmaker(pybind11::module_& m);
