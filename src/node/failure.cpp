#include "node/failure.h"

#include <c10/util/Exception.h>

#include "ravnest/common/error.h"

namespace ravnest::detail {

FailureType failureTypeOf(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const TimeoutError&) {
    return FailureType::kTimeout;
  } catch (const AuthenticationError&) {
    return FailureType::kAuthentication;
  } catch (const NetworkError&) {
    return FailureType::kNetwork;
  } catch (const ProtocolError&) {
    return FailureType::kProtocol;
  } catch (const ConfigError&) {
    return FailureType::kConfig;
  } catch (...) {
    return FailureType::kError;
  }
}

std::string failureMessageOf(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unknown error";
  }
}

std::exception_ptr makeFailure(FailureType type, const std::string& message) {
  switch (type) {
    case FailureType::kTimeout:
      return std::make_exception_ptr(TimeoutError(message));
    case FailureType::kNetwork:
      return std::make_exception_ptr(NetworkError(message));
    case FailureType::kAuthentication:
      return std::make_exception_ptr(AuthenticationError(message));
    case FailureType::kProtocol:
      return std::make_exception_ptr(ProtocolError(message));
    case FailureType::kConfig:
      return std::make_exception_ptr(ConfigError(message));
    case FailureType::kError:
      break;
  }
  return std::make_exception_ptr(Error(message));
}

std::exception_ptr stoppedBecause(const std::string& nodeName, const std::exception_ptr& failure) {
  std::string message = failureMessageOf(failure);
  const std::string ownName = nodeName + ": ";
  if (message.rfind(ownName, 0) == 0) message.erase(0, ownName.size());
  return makeFailure(failureTypeOf(failure), nodeName + " stopped: " + message);
}

}  // namespace ravnest::detail
