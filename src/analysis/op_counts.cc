// analysis/op_counts.cc: FLOPs and bytes per operation of a forward pass (analysis/op_counts.h).
//
// Per pass, with N = T * S new tokens, P = L0 + T positions after it, f32 activations (4 bytes), kv
// the bytes per cached value, and scores = S * n_head * (T * L0 + T (T + 1) / 2) (query t of a
// sequence sees L0 + t + 1 positions):
//   op          flops                     weights     act read              act write        KV
//   attn_norm   4 N d                     d floats    N d                   N d
//   q_proj      2 N d dq (+ N dq bias)    Wq (+ bq)   N d                   N dq
//   k_proj      2 N d dkv (+ N dkv)       Wk (+ bk)   N d                                    write N dkv kv
//   v_proj      2 N d dkv (+ N dkv)       Wv (+ bv)   N d                                    write N dkv kv
//   rope        3 N (n_head+n_head_kv) n_rot          N (dq+dkv) + N n_rot (table)   N (dq+dkv)
//   qk          2 head_dim scores                     N dq (Q)                               read S P dkv kv (K)
//   softmax     5 scores                 (fused: online softmax in registers, no traffic)
//   sv          2 head_dim scores                                           N dq             read S P dkv kv (V)
//   o_proj      2 N dq d                  Wo          N dq                  N d
//   attn_add    N d                                   2 N d                 N d
//   ffn_norm    as attn_norm
//   gate_proj   2 N d ff                  Wgate       N d                   N ff
//   up_proj     2 N d ff                  Wup         N d                   N ff
//   swiglu      5 N ff                                2 N ff                N ff
//   down_proj   2 N ff d                  Wdown       N ff                  N d
//   ffn_add     as attn_add
// and once per pass: token_embd (N rows of the table in its stored type read, N d written),
// output_norm and lm_head (2 n_out d n_vocab; the whole head matrix read, n_out n_vocab written).
// K and V rows are read once per layer and pass (a tile of queries shares them: kernels/attention).
#include "analysis/op_counts.h"

#include <map>

#include "mnemo/util.h"
#include "tensor/dtype.h"

namespace mnemo::analysis {
namespace {

constexpr double kAct = 4;  // bytes of an f32 activation

struct OpSpec {
  const char* name;
  std::string kind;
  double flops = 0, weight = 0, act_read = 0, act_write = 0, kv_read = 0, kv_write = 0;
  int64_t batch = 1;
  bool weight_stream = false;
};

// Adds one instance of `s` to `ops`, merged with an earlier operation of the same name and kind.
// `cursor` is where the operation is expected (every layer lists its operations in the same order),
// so that the merge does not search.
void add_op(std::vector<PassOp>& ops, const OpSpec& s, bool per_layer, size_t& cursor) {
  auto same = [&](const PassOp& o) {
    return o.cost.per_layer == per_layer && o.cost.name == s.name && o.cost.kind == s.kind;
  };
  PassOp* op = nullptr;
  if (cursor < ops.size() && same(ops[cursor])) {
    op = &ops[cursor];
  } else {
    for (size_t i = 0; i < ops.size() && op == nullptr; ++i) {
      if (same(ops[i])) {
        op = &ops[i];
        cursor = i;
      }
    }
  }
  ++cursor;
  if (op == nullptr) {
    cursor = ops.size() + 1;
    ops.emplace_back();
    op = &ops.back();
    op->cost.name = s.name;
    op->cost.kind = s.kind;
    op->cost.per_layer = per_layer;
    op->cost.count = 0;
    op->batch = s.batch;
    op->weight_stream = s.weight_stream;
  }
  OpCost& c = op->cost;
  c.count += 1;
  c.flops += s.flops;
  c.weight_bytes += s.weight;
  c.act_read_bytes += s.act_read;
  c.act_write_bytes += s.act_write;
  c.kv_read_bytes += s.kv_read;
  c.kv_write_bytes += s.kv_write;
}

// A matrix product of N tokens by W (plus a bias of `bias_bytes`, when present).
OpSpec product(const char* name, const Matrix& W, double N, double bias_bytes = 0) {
  OpSpec s{name, W.type};
  s.flops = 2 * N * static_cast<double>(W.n) * static_cast<double>(W.m) + (bias_bytes > 0 ? N * W.m : 0);
  s.weight = W.bytes + bias_bytes;
  s.act_read = N * static_cast<double>(W.n) * kAct;
  s.act_write = N * static_cast<double>(W.m) * kAct;
  s.batch = static_cast<int64_t>(N);
  s.weight_stream = true;
  return s;
}

OpSpec elementwise(const char* name, double flops, double read, double write, double weight, int64_t batch) {
  OpSpec s{name, "vector"};
  s.flops = flops;
  s.act_read = read;
  s.act_write = write;
  s.weight = weight;
  s.batch = batch;
  return s;
}

}  // namespace

Expected<Shapes> read_shapes(const ModelInfo& info) {
  std::map<std::string, const TensorSummary*> by_name;
  for (const TensorSummary& t : info.tensors) by_name[t.name] = &t;
  const std::string& file = info.path.empty() ? std::string("model") : info.path;
  auto matrix = [&](const std::string& name) -> Expected<Matrix> {
    auto it = by_name.find(name);
    if (it == by_name.end()) return corrupt(file + ": expected a tensor " + name + ", found none");
    const TensorSummary& t = *it->second;
    if (t.shape.size() < 2 || t.shape[0] <= 0 || t.shape[1] <= 0) {
      return corrupt(file + ": " + name + ": expected a matrix, found another shape");
    }
    Matrix m;
    m.type = t.type;
    m.n = t.shape[0];
    m.m = t.shape[1];
    m.bytes = static_cast<double>(t.bytes);
    return m;
  };
  auto vector_bytes = [&](const std::string& name, double missing) {
    auto it = by_name.find(name);
    return it == by_name.end() ? missing : static_cast<double>(it->second->bytes);
  };
  Shapes s;
  s.d = info.n_embd;
  s.n_head = info.n_head;
  s.n_head_kv = info.n_head_kv;
  s.head_dim = info.head_dim;
  s.dq = info.n_head * info.head_dim;
  s.dkv = info.n_head_kv * info.head_dim;
  s.n_rot = info.n_rot;
  s.n_vocab = info.n_vocab;
  for (const auto& [field, v] : {std::pair<const char*, int64_t>{"n_embd", info.n_embd}, {"n_layer", info.n_layer},
                                 {"n_head", info.n_head}, {"n_head_kv", info.n_head_kv}, {"head_dim", info.head_dim},
                                 {"n_ff", info.n_ff}, {"n_vocab", info.n_vocab}}) {
    if (v <= 0) return corrupt(str_printf("%s: %s: expected a positive size, found %lld", file.c_str(), field,
                                          static_cast<long long>(v)));
  }
  const double norm = static_cast<double>(s.d) * 4;
  for (int64_t l = 0; l < info.n_layer; ++l) {
    const std::string b = str_printf("blk.%lld.", static_cast<long long>(l));
    Layer L;
    MNEMO_ASSIGN_OR_RETURN(L.q, matrix(b + "attn_q.weight"));
    MNEMO_ASSIGN_OR_RETURN(L.k, matrix(b + "attn_k.weight"));
    MNEMO_ASSIGN_OR_RETURN(L.v, matrix(b + "attn_v.weight"));
    MNEMO_ASSIGN_OR_RETURN(L.o, matrix(b + "attn_output.weight"));
    MNEMO_ASSIGN_OR_RETURN(L.gate, matrix(b + "ffn_gate.weight"));
    MNEMO_ASSIGN_OR_RETURN(L.up, matrix(b + "ffn_up.weight"));
    MNEMO_ASSIGN_OR_RETURN(L.down, matrix(b + "ffn_down.weight"));
    L.attn_norm_bytes = vector_bytes(b + "attn_norm.weight", norm);
    L.ffn_norm_bytes = vector_bytes(b + "ffn_norm.weight", norm);
    L.q_bias_bytes = vector_bytes(b + "attn_q.bias", 0);
    L.k_bias_bytes = vector_bytes(b + "attn_k.bias", 0);
    L.v_bias_bytes = vector_bytes(b + "attn_v.bias", 0);
    s.layers.push_back(std::move(L));
  }
  MNEMO_ASSIGN_OR_RETURN(s.embd, matrix("token_embd.weight"));
  if (by_name.count("output.weight") != 0) {
    MNEMO_ASSIGN_OR_RETURN(s.output, matrix("output.weight"));
  } else {
    s.output = s.embd;  // tied to the embedding
  }
  s.output_norm_bytes = vector_bytes("output_norm.weight", norm);
  return s;
}

void count_pass(const Shapes& s, const Pass& p, std::vector<PassOp>& ops) {
  ops.clear();
  const double N = static_cast<double>(p.T * p.S), T = static_cast<double>(p.T), S = static_cast<double>(p.S);
  const double d = static_cast<double>(s.d), dq = static_cast<double>(s.dq), dkv = static_cast<double>(s.dkv);
  const double P = static_cast<double>(p.L0 + p.T);
  const double scores = S * static_cast<double>(s.n_head) * (T * static_cast<double>(p.L0) + T * (T + 1) / 2);
  const int64_t n_all = p.T * p.S;
  size_t cursor = 0;
  auto add = [&](const OpSpec& spec, bool per_layer) { add_op(ops, spec, per_layer, cursor); };

  OpSpec embd{"token_embd", s.embd.type};
  embd.weight = N * s.embd.bytes / static_cast<double>(s.embd.m);  // N rows of the table
  embd.act_write = N * d * kAct;
  embd.batch = n_all;
  add(embd, false);

  const size_t first_layer_op = ops.size();
  for (const Layer& L : s.layers) {
    cursor = first_layer_op;
    auto norm = [&](const char* name, double weight) {
      return elementwise(name, 4 * N * d, N * d * kAct, N * d * kAct, weight, n_all);
    };
    add(norm("attn_norm", L.attn_norm_bytes), true);
    add(product("q_proj", L.q, N, L.q_bias_bytes), true);
    for (auto [name, W, bias] : {std::tuple{"k_proj", &L.k, L.k_bias_bytes}, std::tuple{"v_proj", &L.v, L.v_bias_bytes}}) {
      OpSpec kv = product(name, *W, N, bias);
      kv.act_write = 0;
      kv.kv_write = N * static_cast<double>(W->m) * p.kv_bytes;
      add(kv, true);
    }
    const double rot = static_cast<double>(s.n_rot);
    add(
        elementwise("rope", 3 * N * static_cast<double>(s.n_head + s.n_head_kv) * rot,
                    N * (dq + dkv) * kAct + N * rot * kAct, N * (dq + dkv) * kAct, 0, n_all),
        true);
    OpSpec qk{"qk", "attention"};
    qk.flops = 2 * static_cast<double>(s.head_dim) * scores;
    qk.act_read = N * dq * kAct;
    qk.kv_read = S * P * dkv * p.kv_bytes;
    qk.batch = p.T;
    add(qk, true);
    OpSpec softmax{"softmax", "attention"};
    softmax.flops = 5 * scores;
    softmax.batch = p.T;
    add(softmax, true);
    OpSpec sv{"sv", "attention"};
    sv.flops = 2 * static_cast<double>(s.head_dim) * scores;
    sv.act_write = N * dq * kAct;
    sv.kv_read = S * P * dkv * p.kv_bytes;
    sv.batch = p.T;
    add(sv, true);
    add(product("o_proj", L.o, N), true);
    add(elementwise("attn_add", N * d, 2 * N * d * kAct, N * d * kAct, 0, n_all), true);
    add(norm("ffn_norm", L.ffn_norm_bytes), true);
    add(product("gate_proj", L.gate, N), true);
    add(product("up_proj", L.up, N), true);
    const double ff = static_cast<double>(L.gate.m);
    add(elementwise("swiglu", 5 * N * ff, 2 * N * ff * kAct, N * ff * kAct, 0, n_all), true);
    add(product("down_proj", L.down, N), true);
    add(elementwise("ffn_add", N * d, 2 * N * d * kAct, N * d * kAct, 0, n_all), true);
  }

  if (p.n_out > 0) {
    cursor = ops.size();
    const double n_out = static_cast<double>(p.n_out);
    add(elementwise("output_norm", 4 * n_out * d, n_out * d * kAct, n_out * d * kAct, s.output_norm_bytes, p.n_out),
        false);
    add(product("lm_head", s.output, n_out), false);
  }
}

}  // namespace mnemo::analysis
