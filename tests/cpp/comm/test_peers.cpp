#include "comm/test_peers.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>

namespace ravnest::testing {

ChildPeer::ChildPeer(const std::vector<std::string>& arguments) {
  int pipeEnds[2];
  if (pipe(pipeEnds) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> argv = {RAVNEST_TEST_PEER_PATH};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  std::vector<char*> rawArgv;
  for (auto& argument : argv) rawArgv.push_back(argument.data());
  rawArgv.push_back(nullptr);

  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // The peer dies with the test: a test killed by its timeout must not leave a peer behind, least of all
    // one it stopped with SIGSTOP (it would keep its ports and inherited file descriptors forever).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(pipeEnds[1], STDOUT_FILENO);
    close(pipeEnds[0]);
    close(pipeEnds[1]);
    execv(rawArgv[0], rawArgv.data());
    _exit(127);
  }
  close(pipeEnds[1]);
  FILE* childOutput = fdopen(pipeEnds[0], "r");
  const int matched = std::fscanf(childOutput, "PORT %d", &port_);
  std::fclose(childOutput);
  if (matched != 1) {
    signal(SIGKILL);
    throw std::runtime_error("the test peer did not report its port");
  }
}

ChildPeer::~ChildPeer() {
  if (pid_ > 0) signal(SIGKILL);
}

void ChildPeer::signal(int signal) {
  if (pid_ <= 0) return;
  ::kill(pid_, signal);
  if (signal == SIGKILL) {
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

TransportOptions optionsWithDeadline(std::chrono::milliseconds deadline) {
  TransportOptions options;
  options.deadline = deadline;
  return options;
}

}  // namespace ravnest::testing
