// The NodeOptions fields that Python's ravnest.Node sets, by their Python keyword: one entry each, reading the
// field (so Python's defaults are the C++ defaults) and writing it. python/ravnest/node_options.py holds the
// keywords' validation and documentation.
#pragma once

#include <pybind11/pybind11.h>

#include "ravnest/node/node_options.h"

/// {keyword: value} of a default-constructed NodeOptions.
pybind11::dict nodeOptionDefaults();
/// NodeOptions from {keyword: value}; the keywords not given keep their defaults. Throws InvalidArgumentError
/// for an unknown keyword or a value the field cannot take.
ravnest::NodeOptions nodeOptionsFrom(const pybind11::dict& values);
