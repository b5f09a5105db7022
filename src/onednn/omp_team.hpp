// oneDNN's OpenMP team as a home for our own loops (cpu::enter_team).
//
// After each oneDNN call, OpenMP's workers spin on the other cores for a few
// milliseconds (libgomp's default wait policy, which a library cannot change).
// A loop of ours run on our pool queues behind them (training 4x slower); run
// serially, it leaves them spinning for nothing. Run on the same OpenMP team,
// it uses them. libgomp's entry points are looked up, not linked, so a clang
// build never loads a second OpenMP runtime; without them, loops run serially.
#pragma once

namespace convnet::onednn {

// Whether our loops run on OpenMP's team: libgomp's GOMP_parallel was found,
// and CONVNET_ONEDNN_LOOPS is not "serial" (the A/B switch of the bench).
bool omp_team_available();

// Between these, cpu::parallel_for on this thread runs on OpenMP's team (or
// serially without one). They nest.
void enter_team_loops();
void leave_team_loops();
class TeamScope {
 public:
  TeamScope() { enter_team_loops(); }
  ~TeamScope() { leave_team_loops(); }
  TeamScope(const TeamScope&) = delete;
  TeamScope& operator=(const TeamScope&) = delete;
};

}  // namespace convnet::onednn
