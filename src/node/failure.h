#pragma once

#include <cstdint>
#include <exception>
#include <string>

namespace ravnest::detail {

/// Why a node stopped, by ravnest error type: kept when a failure is renamed or travels to a peer in an
/// abort message, so that every node of the cluster raises the type of the original failure.
/// The values travel in abort messages: append new ones, never renumber.
enum class FailureType : int64_t {
  kError = 0,
  kNetwork = 1,
  kTimeout = 2,
  kProtocol = 3,
  kConfig = 4,
  kAuthentication = 5,
  kLast = kAuthentication
};

FailureType failureTypeOf(const std::exception_ptr& failure);
/// The failure's message (a torch error without its C++ backtrace).
std::string failureMessageOf(const std::exception_ptr& failure);
/// An exception of `type` with `message`.
std::exception_ptr makeFailure(FailureType type, const std::string& message);

/// `failure` as `<nodeName> stopped: <message>`, of the same type; a message that already starts with the
/// node's name loses that prefix.
std::exception_ptr stoppedBecause(const std::string& nodeName, const std::exception_ptr& failure);

}  // namespace ravnest::detail
