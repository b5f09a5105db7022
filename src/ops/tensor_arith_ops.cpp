// Tensor arithmetic (convnet/tensor_ops.hpp's engine): validate once, allocate
// the output on the inputs' device, dispatch. An empty output never reaches a
// backend, so no GPU kernel is launched with zero blocks.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "convnet/ops.hpp"
#include "ops/checks.hpp"

namespace convnet::ops {

using namespace detail;

namespace {

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
  }
  return "binary";
}

const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Abs: return "abs";
    case UnaryOp::Clamp: return "clamp";
    case UnaryOp::AddScalar: return "add (scalar)";
    case UnaryOp::MulScalar: return "mul (scalar)";
    case UnaryOp::DivScalar: return "div (scalar)";
    case UnaryOp::RSubScalar: return "sub (scalar - tensor)";
    case UnaryOp::RDivScalar: return "div (scalar / tensor)";
  }
  return "unary";
}

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
  return "reduce";
}

// Arithmetic is float32 only; say so rather than "must be f32".
void check_f32(const std::string& op, const char* role, const Tensor& t) {
  CONVNET_CHECK(t.defined(), op, ": ", role, " is undefined");
  CONVNET_CHECK(t.dtype() == DType::F32, op, ": ", role, " ", t.shape(), " is ",
                dtype_name(t.dtype()), "; tensor arithmetic supports only f32");
}

// Data movement takes either 4-byte dtype.
void check_movable(const std::string& op, const char* role, const Tensor& t) {
  CONVNET_CHECK(t.defined(), op, ": ", role, " is undefined");
  CONVNET_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::I32, op, ": ", role, " ",
                t.shape(), " is ", dtype_name(t.dtype()), "; only f32 and i32 are supported");
}

// dim in [-rank, rank) -> [0, rank). A 0-d tensor takes dim 0 or -1, as in libtorch.
int normalize_dim(const std::string& op, const Tensor& t, int dim) {
  const int rank = t.dim() == 0 ? 1 : t.dim();
  CONVNET_CHECK(dim >= -rank && dim < rank, op, ": dim ", dim, " is out of range for ",
                t.shape(), " (rank ", t.dim(), "; dim must lie in [", -rank, ", ", rank - 1,
                "])");
  return dim < 0 ? dim + rank : dim;
}

int64_t product(const Shape& s, int begin, int end) {
  int64_t n = 1;
  for (int d = begin; d < end; ++d) n *= s[d];
  return n;
}

Shape broadcast_shape_for(const std::string& op, const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> out(static_cast<size_t>(rank));
  for (int d = 0; d < rank; ++d) {  // d counts from the right
    const int64_t ea = d < a.rank() ? a[a.rank() - 1 - d] : 1;
    const int64_t eb = d < b.rank() ? b[b.rank() - 1 - d] : 1;
    CONVNET_CHECK(ea == eb || ea == 1 || eb == 1, op, ": shapes ", a, " and ", b,
                  " do not broadcast: dimension ", -1 - d, " (from the end) has extents ", ea,
                  " and ", eb, " (each pair must match or one be 1)");
    out[static_cast<size_t>(rank - 1 - d)] = ea == 1 ? eb : ea;
  }
  return Shape(std::move(out));
}

Broadcast make_broadcast_for(const std::string& op, const Shape& a, const Shape& b) {
  const Shape out = broadcast_shape_for(op, a, b);
  CONVNET_CHECK(out.rank() <= kMaxBroadcastRank, op, ": shapes ", a, " and ", b,
                " broadcast to rank ", out.rank(), ", over the ", kMaxBroadcastRank,
                " dimensions supported");
  // Contiguous strides of each input, right-aligned; 0 where it broadcasts.
  Broadcast full;
  full.rank = out.rank();
  int64_t sa = 1, sb = 1;
  for (int d = out.rank() - 1; d >= 0; --d) {
    const int from_end = out.rank() - 1 - d;
    const int64_t ea = from_end < a.rank() ? a[a.rank() - 1 - from_end] : 1;
    const int64_t eb = from_end < b.rank() ? b[b.rank() - 1 - from_end] : 1;
    full.sizes[d] = out[d];
    full.a_strides[d] = ea == 1 ? 0 : sa;
    full.b_strides[d] = eb == 1 ? 0 : sb;
    sa *= ea;
    sb *= eb;
  }
  // Merge neighbours that address both inputs alike (same shapes: one dim), and
  // drop extent-1 dims: fewer divisions per element on every backend.
  Broadcast bc;
  for (int d = 0; d < full.rank; ++d) {
    if (full.sizes[d] == 1) continue;
    if (bc.rank > 0) {
      const int p = bc.rank - 1;
      if (bc.a_strides[p] == full.a_strides[d] * full.sizes[d] &&
          bc.b_strides[p] == full.b_strides[d] * full.sizes[d]) {
        bc.sizes[p] *= full.sizes[d];
        bc.a_strides[p] = full.a_strides[d];
        bc.b_strides[p] = full.b_strides[d];
        continue;
      }
    }
    bc.sizes[bc.rank] = full.sizes[d];
    bc.a_strides[bc.rank] = full.a_strides[d];
    bc.b_strides[bc.rank] = full.b_strides[d];
    ++bc.rank;
  }
  return bc;
}

void check_binary_args(const std::string& op, Backend& be, const Tensor& a, const Tensor& b) {
  check_f32(op, "a", a);
  check_f32(op, "b", b);
  check_devices(op, be, {{"a", &a}, {"b", &b}});
}

void check_unary_args(const std::string& op, Backend& be, UnaryOp u, const Tensor& input,
                      float s0, float s1) {
  check_f32(op, "input", input);
  check_devices(op, be, {{"input", &input}});
  if (u == UnaryOp::Clamp)
    CONVNET_CHECK(!std::isnan(s0) && !std::isnan(s1), op, ": input ", input.shape(),
                  ": a bound is NaN (min ", s0, ", max ", s1,
                  "); leave it out (std::nullopt in clamp()) or pass +-infinity instead");
}

}  // namespace

Shape broadcast_shape(const Shape& a, const Shape& b) {
  return broadcast_shape_for("broadcast_shape", a, b);
}

Broadcast make_broadcast(const Shape& a, const Shape& b) {
  return make_broadcast_for("make_broadcast", a, b);
}

Tensor binary(Backend& be, BinaryOp op, const Tensor& a, const Tensor& b) {
  const std::string name = binary_name(op);
  check_binary_args(name, be, a, b);
  const Broadcast bc = make_broadcast_for(name, a.shape(), b.shape());
  Tensor output = Tensor::empty(broadcast_shape_for(name, a.shape(), b.shape()), a.device());
  if (output.numel() > 0) be.binary(op, a, b, bc, output);
  return output;
}

void binary_(Backend& be, BinaryOp op, Tensor& a, const Tensor& b) {
  const std::string name = std::string(binary_name(op)) + "_";
  check_binary_args(name, be, a, b);
  const Shape out = broadcast_shape_for(name, a.shape(), b.shape());
  CONVNET_CHECK(out == a.shape(), name, ": b ", b.shape(), " broadcasts with a ", a.shape(),
                " to ", out, ", but the result of an in-place op must keep a's shape");
  if (a.numel() == 0) return;
  // b overlapping a elsewhere than element for element (a row of a added to
  // all of a) would read values already overwritten: take a copy of b first.
  const bool overlaps = b.shares_storage_with(a) &&
                        !(b.raw_data() == a.raw_data() && b.shape() == a.shape());
  const Tensor b_read = overlaps ? b.clone() : b;
  be.binary(op, a, b_read, make_broadcast_for(name, a.shape(), b.shape()), a);
}

Tensor unary(Backend& be, UnaryOp op, const Tensor& input, float s0, float s1) {
  const std::string name = unary_name(op);
  check_unary_args(name, be, op, input, s0, s1);
  Tensor output = Tensor::empty(input.shape(), input.device());
  if (output.numel() > 0) be.unary(op, input, s0, s1, output);
  return output;
}

void unary_(Backend& be, UnaryOp op, Tensor& input, float s0, float s1) {
  const std::string name = std::string(unary_name(op)) + "_";
  check_unary_args(name, be, op, input, s0, s1);
  if (input.numel() > 0) be.unary(op, input, s0, s1, input);
}

Tensor reduce(Backend& be, ReduceOp op, const Tensor& input, std::optional<int> dim,
              bool keepdim) {
  const std::string name = reduce_name(op);
  check_f32(name, "input", input);
  check_devices(name, be, {{"input", &input}});
  const Shape& in = input.shape();
  int64_t outer = 1, extent = input.numel(), inner = 1;
  std::vector<int64_t> out_dims;
  if (dim) {
    const int d = normalize_dim(name, input, *dim);
    if (input.dim() > 0) {
      outer = product(in, 0, d);
      extent = in[d];
      inner = product(in, d + 1, in.rank());
      out_dims = in.dims();
      if (keepdim) {
        out_dims[static_cast<size_t>(d)] = 1;
      } else {
        out_dims.erase(out_dims.begin() + d);
      }
    }
  } else if (keepdim) {
    out_dims.assign(static_cast<size_t>(in.rank()), 1);  // every dim kept, extent 1
  }
  const bool needs_element = op == ReduceOp::Max || op == ReduceOp::Min ||
                             op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  CONVNET_CHECK(!needs_element || extent > 0, name, ": input ", in, " has no elements ",
                dim ? "along dim " + std::to_string(*dim) : std::string("to reduce"),
                "; ", name, " of nothing is undefined");
  const bool index = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  Tensor output = Tensor::empty(Shape(std::move(out_dims)), input.device(),
                                index ? DType::I32 : DType::F32);
  if (output.numel() > 0) be.reduce(op, input, outer, extent, inner, output);
  return output;
}

Tensor matmul(Backend& be, const Tensor& a, const Tensor& b) {
  constexpr const char* op = "matmul";
  check_f32(op, "a", a);
  check_f32(op, "b", b);
  check_devices(op, be, {{"a", &a}, {"b", &b}});
  CONVNET_CHECK(a.dim() == 2 && b.dim() == 2, op, ": a ", a.shape(), " and b ", b.shape(),
                " must both be 2-D ([M, K] and [K, N])");
  CONVNET_CHECK(a.size(1) == b.size(0), op, ": a ", a.shape(), " and b ", b.shape(),
                " do not chain: a has ", a.size(1), " columns but b has ", b.size(0), " rows");
  constexpr int64_t kBlasMax = std::numeric_limits<int>::max();  // BLAS takes int extents
  CONVNET_CHECK(a.size(0) <= kBlasMax && a.size(1) <= kBlasMax && b.size(1) <= kBlasMax, op,
                ": a ", a.shape(), " and b ", b.shape(), " have an extent over ", kBlasMax,
                ", more than BLAS can index");
  Tensor output = Tensor::empty({a.size(0), b.size(1)}, a.device());
  if (output.numel() == 0) return output;
  if (a.size(1) == 0) {
    be.fill(output, 0.f);  // an empty sum on every backend, without asking BLAS
  } else {
    be.matmul(a, b, output);
  }
  return output;
}

Tensor transpose2d(Backend& be, const Tensor& input) {
  constexpr const char* op = "transpose2d";
  check_movable(op, "input", input);
  check_devices(op, be, {{"input", &input}});
  CONVNET_CHECK(input.dim() == 2, op, ": input ", input.shape(), " must be 2-D but has rank ",
                input.dim());
  Tensor output = Tensor::empty({input.size(1), input.size(0)}, input.device(), input.dtype());
  if (output.numel() > 0) be.transpose2d(input, output);
  return output;
}

Tensor cat(Backend& be, const std::vector<Tensor>& inputs, int dim) {
  constexpr const char* op = "cat";
  CONVNET_CHECK(!inputs.empty(), op, ": needs at least one tensor, got an empty list");
  const Tensor& first = inputs[0];
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string role = "tensors[" + std::to_string(i) + "]";
    check_movable(op, role.c_str(), inputs[i]);
    check_devices(op, be, {{"tensors[0]", &first}, {role, &inputs[i]}});
    CONVNET_CHECK(inputs[i].dtype() == first.dtype(), op, ": ", role, " ", inputs[i].shape(),
                  " is ", dtype_name(inputs[i].dtype()), " but tensors[0] ", first.shape(),
                  " is ", dtype_name(first.dtype()), "; all must share one dtype");
  }
  CONVNET_CHECK(first.dim() > 0, op, ": tensors[0] is 0-d; cat joins tensors of rank >= 1");
  const int d = normalize_dim(op, first, dim);
  std::vector<int64_t> out_dims = first.shape().dims();
  out_dims[static_cast<size_t>(d)] = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Shape& s = inputs[i].shape();
    bool same = s.rank() == first.dim();
    for (int k = 0; same && k < s.rank(); ++k) same = k == d || s[k] == first.size(k);
    CONVNET_CHECK(same, op, ": tensors[", i, "] ", s, " does not match tensors[0] ",
                  first.shape(), " outside dim ", dim,
                  " (all must have the same rank and the same extents but along dim)");
    out_dims[static_cast<size_t>(d)] += s[d];
  }
  const Shape out_shape(std::move(out_dims));
  Tensor output = Tensor::empty(out_shape, first.device(), first.dtype());
  // Viewed as [outer, ...]: each input fills a band of columns of every outer row.
  const int64_t outer = product(out_shape, 0, d);
  if (output.numel() == 0) return output;
  int64_t offset = 0;
  for (const Tensor& t : inputs) {
    if (t.numel() == 0) continue;
    be.copy_columns(t, outer, offset, output);
    offset += t.numel() / outer;
  }
  return output;
}

Tensor index_select(Backend& be, const Tensor& input, const Tensor& indices) {
  constexpr const char* op = "index_select";
  check_movable(op, "input", input);
  check_tensor(op, "indices", indices, DType::I32, 1, "[n]");
  check_devices(op, be, {{"input", &input}, {"indices", &indices}});
  CONVNET_CHECK(input.dim() >= 1, op, ": input is 0-d; it selects rows of a tensor of rank >= 1");
  const int64_t rows = input.size(0);
  // Checked here, once, on the host: a GPU kernel could only flag a bad index late.
  const std::vector<int32_t> host = indices.to_vector<int32_t>();
  for (size_t i = 0; i < host.size(); ++i)
    CONVNET_CHECK(host[i] >= 0 && host[i] < rows, op, ": indices[", i, "] = ", host[i],
                  " is out of range for input ", input.shape(), " (rows 0 to ", rows - 1, ")");
  std::vector<int64_t> out_dims = input.shape().dims();
  out_dims[0] = indices.numel();
  Tensor output = Tensor::empty(Shape(std::move(out_dims)), input.device(), input.dtype());
  if (output.numel() > 0) be.index_select(input, indices, output);
  return output;
}

}  // namespace convnet::ops
