// world() and the single-process communicator, whose collectives are the identity.
#include "flowgrad/dist/communicator.h"

#include "flowgrad/tensor/error.h"
#include "flowgrad/tensor/ops.h"

namespace fg::dist {

namespace {

class DoneWork final : public Work {
 public:
  void wait() override {}
};

class SingleCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* name() const override { return "single"; }
  std::shared_ptr<Work> allreduce_async(Tensor, ReduceOp, const std::string&) override {
    return std::make_shared<DoneWork>();
  }
  void broadcast(Tensor&, int root, const std::string& what) override {
    FG_CHECK(root == 0, "{}: broadcast from rank {} in a world of one process", what, root);
  }
  Tensor allgather(const Tensor& t, const std::string&) override { return t; }
  void barrier(const std::string&) override {}
  void allreduce(std::vector<double>&, ReduceOp, const std::string&) override {}
  std::vector<uint64_t> allgather(uint64_t v, const std::string&) override { return {v}; }
};

std::unique_ptr<Communicator>& installed() {
  static std::unique_ptr<Communicator> c = make_single_communicator();
  return c;
}

}  // namespace

std::unique_ptr<Communicator> make_single_communicator() { return std::make_unique<SingleCommunicator>(); }

Communicator& world() { return *installed(); }

std::unique_ptr<Communicator> set_world(std::unique_ptr<Communicator> c) {
  std::unique_ptr<Communicator> prev = std::move(installed());
  installed() = c ? std::move(c) : make_single_communicator();
  return prev;
}

}  // namespace fg::dist
