// Parity cases of the tensor-arithmetic operations (binary with broadcasting,
// unary, reduce, matmul, transpose2d, copy_columns, index_select): fresh random
// inputs, poisoned outputs, every backend held to the CPU reference.
#include <array>
#include <string>
#include <vector>

#include "parity/parity_harness.hpp"

namespace convnet::parity {
namespace {

// Reductions: the CPU sums in double and rounds once; a GPU in float loses a
// few ulps per output in another order. The inputs lie in [-0.5, 1.5] (mean
// 0.5), so no sum cancels to near zero and a relative bound stays meaningful.
Tolerance reduction_tolerance() {
  Tolerance t;
  t.default_bound = {1e-5,
                     "float32 reduction against the double-accumulated CPU reference: another "
                     "summation order in float (a few ulps per output, norm-wise)"};
  return t;
}

Tolerance matmul_fp32_or_tf32() {
  Tolerance t;
  t.overrides = {
      {Backend::Kind::Cuda, MathMode::TF32,
       {5e-3, "cuda under TF32: cuBLAS may multiply on TF32 tensor cores (10-bit mantissas)"}},
      {Backend::Kind::Cudnn, MathMode::TF32,
       {5e-3, "cudnn under TF32: matmul delegates to cuBLAS, which may use TF32 tensor cores"}},
  };
  return t;
}

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
  }
  return "?";
}

struct UnaryCase {
  const char* name;
  UnaryOp op;
  float s0, s1;
  bool positive;  // log, sqrt and 1/x: inputs in [0.5, 3], where they are finite
};

const char* reduce_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Mean: return "mean";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
    case ReduceOp::Norm: return "norm";
    case ReduceOp::ArgMax: return "argmax";
    case ReduceOp::ArgMin: return "argmin";
  }
  return "?";
}

// Pairs of shapes under NumPy broadcasting: equal, a trailing vector, a column
// against a row, a 0-d scalar, a middle broadcast dim, one long odd extent.
const std::vector<std::array<Shape, 2>> kBroadcastPairs = {
    {Shape{1, 1}, Shape{1, 1}},     {Shape{3, 7}, Shape{3, 7}},
    {Shape{2, 3, 5}, Shape{5}},     {Shape{17, 1}, Shape{1, 33}},
    {Shape{4, 300}, Shape{}},       {Shape{2, 1, 7, 5}, Shape{3, 1, 5}},
    {Shape{257, 1031}, Shape{1031}}};

void add_binary_cases(std::vector<ParityCase>& cases) {
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
    for (const auto& pair : kBroadcastPairs) {
      const Shape a_shape = pair[0], b_shape = pair[1];
      const Shape out = ops::broadcast_shape(a_shape, b_shape);
      cases.push_back({std::string("binary/") + binary_name(op) + "/" + a_shape.str() + "_" +
                           b_shape.str(),
                       [=](Backend& be, Inputs& in_) {
        // Divisors away from 0, so the quotients stay finite and comparable.
        Tensor a = in_.randn(a_shape);
        Tensor b = op == BinaryOp::Div ? in_.rand(b_shape, 0.5f, 2.f) : in_.randn(b_shape);
        Tensor y = in_.poisoned(out), swapped = in_.poisoned(out);
        const Broadcast bc = ops::make_broadcast(a_shape, b_shape);
        be.binary(op, a, b, bc, y);
        // b op a as well: the broadcast on the other side.
        Tensor a_pos = op == BinaryOp::Div ? in_.rand(a_shape, 0.5f, 2.f) : a;
        be.binary(op, b, a_pos, ops::make_broadcast(b_shape, a_shape), swapped);
        std::vector<Tensor> outputs{y, swapped};
        if (out == a_shape) {  // in place: the output is a
          Tensor in_place = a.clone();
          be.binary(op, in_place, b, bc, in_place);
          outputs.push_back(in_place);
        }
        return outputs;
      }});
    }
  }
}

void add_unary_cases(std::vector<ParityCase>& cases) {
  const std::vector<UnaryCase> unary_cases = {
      {"neg", UnaryOp::Neg, 0, 0, false},
      {"exp", UnaryOp::Exp, 0, 0, false},
      {"log", UnaryOp::Log, 0, 0, true},
      {"sqrt", UnaryOp::Sqrt, 0, 0, true},
      {"abs", UnaryOp::Abs, 0, 0, false},
      {"clamp", UnaryOp::Clamp, -0.5f, 0.75f, false},
      {"add_scalar", UnaryOp::AddScalar, 1.25f, 0, false},
      {"mul_scalar", UnaryOp::MulScalar, -3.f, 0, false},
      {"div_scalar", UnaryOp::DivScalar, 7.f, 0, false},
      {"rsub_scalar", UnaryOp::RSubScalar, 2.f, 0, false},
      {"rdiv_scalar", UnaryOp::RDivScalar, 3.f, 0, true},
  };
  for (const UnaryCase& u : unary_cases) {
    for (const Shape& s : std::vector<Shape>{{1}, {3, 7}, {2, 3, 5, 7}, {257, 1031}}) {
      cases.push_back({std::string("unary/") + u.name + "/" + s.str(), [=](Backend& be, Inputs& in_) {
        Tensor x = u.positive ? in_.rand(s, 0.5f, 3.f) : in_.randn(s, 2.f);
        Tensor y = in_.poisoned(s);
        be.unary(u.op, x, u.s0, u.s1, y);
        Tensor in_place = x.clone();
        be.unary(u.op, in_place, u.s0, u.s1, in_place);
        return std::vector<Tensor>{y, in_place};
      }});
    }
  }
}

void add_reduce_cases(std::vector<ParityCase>& cases) {
  // [outer, extent, inner]: everything (outer = inner = 1), a middle dim, the
  // last dim (inner = 1), the first (outer = 1), and long extents that span
  // several GPU blocks.
  const std::vector<std::array<int64_t, 3>> views = {
      {1, 1, 1},    {1, 1000, 1}, {1, 100003, 1}, {3, 7, 5},   {4, 33, 17},
      {5, 1, 9},    {129, 10, 1}, {1, 70, 300},   {2, 4099, 3}};
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min,
                      ReduceOp::Norm, ReduceOp::ArgMax, ReduceOp::ArgMin}) {
    const bool index = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
    for (const auto& v : views) {
      const int64_t outer = v[0], extent = v[1], inner = v[2];
      cases.push_back({std::string("reduce/") + reduce_name(op) + "/" + std::to_string(outer) +
                           "_" + std::to_string(extent) + "_" + std::to_string(inner),
                       [=](Backend& be, Inputs& in_) {
        Tensor x = in_.rand({outer, extent, inner}, -0.5f, 1.5f);
        Tensor y = in_.poisoned({outer, inner}, index ? DType::I32 : DType::F32);
        be.reduce(op, x, outer, extent, inner, y);
        std::vector<Tensor> outputs{y};
        if (index || op == ReduceOp::Max || op == ReduceOp::Min) {
          // Ties on a coarse grid: the first extreme must win on every backend.
          Tensor ties = in_.quantized({outer, extent, inner}, 3);
          Tensor y_ties = in_.poisoned({outer, inner}, index ? DType::I32 : DType::F32);
          be.reduce(op, ties, outer, extent, inner, y_ties);
          outputs.push_back(y_ties);
        }
        return outputs;
      }, reduction_tolerance()});
    }
  }
}

void add_matmul_cases(std::vector<ParityCase>& cases) {
  for (const auto& d : std::vector<std::array<int64_t, 3>>{
           {1, 1, 1}, {2, 3, 4}, {17, 33, 9}, {128, 300, 10}, {65, 1, 130}}) {
    const int64_t m = d[0], k = d[1], n = d[2];
    cases.push_back({"matmul/" + std::to_string(m) + "_" + std::to_string(k) + "_" +
                         std::to_string(n),
                     [=](Backend& be, Inputs& in_) {
      Tensor a = in_.randn({m, k}), b = in_.randn({k, n}), y = in_.poisoned({m, n});
      be.matmul(a, b, y);
      return std::vector<Tensor>{y};
    }, matmul_fp32_or_tf32()});
  }
}

void add_data_movement_cases(std::vector<ParityCase>& cases) {
  for (const Shape& s : std::vector<Shape>{{1, 1}, {3, 7}, {33, 65}, {1, 1031}, {257, 129}}) {
    cases.push_back({"transpose2d/" + s.str(), [=](Backend& be, Inputs& in_) {
      Tensor x = in_.randn(s), y = in_.poisoned({s[1], s[0]});
      Tensor labels = in_.labels(s.numel(), 1000).reshape(s);
      Tensor labels_t = in_.poisoned({s[1], s[0]}, DType::I32);
      be.transpose2d(x, y);
      be.transpose2d(labels, labels_t);
      return std::vector<Tensor>{y, labels_t};
    }});
  }
  // cat along dim 1 of [2, *, 5] and dim 0: each piece a band of columns.
  for (int dim : {0, 1, 2}) {
    cases.push_back({"copy_columns/cat_dim" + std::to_string(dim), [=](Backend& be, Inputs& in_) {
      const std::vector<Shape> pieces = dim == 0   ? std::vector<Shape>{{1, 3, 5}, {4, 3, 5}, {2, 3, 5}}
                                        : dim == 1 ? std::vector<Shape>{{2, 1, 5}, {2, 7, 5}, {2, 3, 5}}
                                                   : std::vector<Shape>{{2, 3, 1}, {2, 3, 9}, {2, 3, 4}};
      std::vector<int64_t> out_dims = pieces[0].dims();
      out_dims[size_t(dim)] = 0;
      for (const Shape& p : pieces) out_dims[size_t(dim)] += p[dim];
      const Shape out(out_dims);
      int64_t outer = 1;
      for (int d = 0; d < dim; ++d) outer *= out[d];
      Tensor y = in_.poisoned(out), y_int = in_.poisoned(out, DType::I32);
      int64_t offset = 0;
      for (const Shape& p : pieces) {
        Tensor x = in_.randn(p), labels = in_.labels(p.numel(), 50).reshape(p);
        be.copy_columns(x, outer, offset, y);
        be.copy_columns(labels, outer, offset, y_int);
        offset += p.numel() / outer;
      }
      return std::vector<Tensor>{y, y_int};
    }});
  }
  for (const Shape& s : std::vector<Shape>{{5}, {7, 3}, {300, 2, 4}, {10, 1031}}) {
    cases.push_back({"index_select/" + s.str(), [=](Backend& be, Inputs& in_) {
      const int64_t n = 2 * s[0] + 1;  // repeats and any order
      Tensor x = in_.randn(s), indices = in_.labels(n, s[0]);
      Shape out = s;
      out[0] = n;
      Tensor y = in_.poisoned(out), y_int = in_.poisoned(out, DType::I32);
      Tensor labels = in_.labels(s.numel(), 1000).reshape(s);
      be.index_select(x, indices, y);
      be.index_select(labels, indices, y_int);
      return std::vector<Tensor>{y, y_int};
    }});
  }
}

}  // namespace

void add_tensor_arith_cases(std::vector<ParityCase>& cases) {
  add_binary_cases(cases);
  add_unary_cases(cases);
  add_reduce_cases(cases);
  add_matmul_cases(cases);
  add_data_movement_cases(cases);
}

}  // namespace convnet::parity
