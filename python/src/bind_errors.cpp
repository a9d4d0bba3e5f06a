// Maps ravnest's C++ errors onto Python exceptions of the same names. Each also derives from the builtin
// exception a Python user would catch for it (ValueError, ConnectionError, TimeoutError).
#include "bindings.h"

#include "ravnest/common/error.h"

namespace py = pybind11;

void bindErrors(py::module_& m) {
  static py::exception<ravnest::Error> error(m, "Error", PyExc_RuntimeError);
  static py::object invalidArgument = py::reinterpret_steal<py::object>(PyErr_NewException(
      "ravnest._C.InvalidArgumentError", py::make_tuple(error, py::handle(PyExc_ValueError)).ptr(), nullptr));
  static py::object configError = py::reinterpret_steal<py::object>(PyErr_NewException(
      "ravnest._C.ConfigError", py::make_tuple(error, py::handle(PyExc_ValueError)).ptr(), nullptr));
  static py::object networkError = py::reinterpret_steal<py::object>(PyErr_NewException(
      "ravnest._C.NetworkError", py::make_tuple(error, py::handle(PyExc_ConnectionError)).ptr(), nullptr));
  static py::object timeoutError = py::reinterpret_steal<py::object>(PyErr_NewException(
      "ravnest._C.TimeoutError", py::make_tuple(networkError, py::handle(PyExc_TimeoutError)).ptr(), nullptr));
  static py::object authenticationError = py::reinterpret_steal<py::object>(
      PyErr_NewException("ravnest._C.AuthenticationError", py::make_tuple(networkError).ptr(), nullptr));
  static py::object protocolError = py::reinterpret_steal<py::object>(
      PyErr_NewException("ravnest._C.ProtocolError", py::make_tuple(error).ptr(), nullptr));
  m.attr("InvalidArgumentError") = invalidArgument;
  m.attr("ConfigError") = configError;
  m.attr("NetworkError") = networkError;
  m.attr("TimeoutError") = timeoutError;
  m.attr("AuthenticationError") = authenticationError;
  m.attr("ProtocolError") = protocolError;

  // Most derived first: the translator tries these in order.
  py::register_exception_translator([](std::exception_ptr raised) {
    try {
      if (raised) std::rethrow_exception(raised);
    } catch (const ravnest::TimeoutError& e) {
      PyErr_SetString(timeoutError.ptr(), e.what());
    } catch (const ravnest::AuthenticationError& e) {
      PyErr_SetString(authenticationError.ptr(), e.what());
    } catch (const ravnest::NetworkError& e) {
      PyErr_SetString(networkError.ptr(), e.what());
    } catch (const ravnest::InvalidArgumentError& e) {
      PyErr_SetString(invalidArgument.ptr(), e.what());
    } catch (const ravnest::ConfigError& e) {
      PyErr_SetString(configError.ptr(), e.what());
    } catch (const ravnest::ProtocolError& e) {
      PyErr_SetString(protocolError.ptr(), e.what());
    } catch (const ravnest::Error& e) {  // the base itself: without this it would surface as a RuntimeError
      PyErr_SetString(error.ptr(), e.what());
    }
  });
}
