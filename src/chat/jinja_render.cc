// chat/jinja_render.cc: executing statements (output, if, for, set, macros, filter blocks), and
// Template.
#include "chat/jinja_render.h"

#include <cctype>

#include "base/strings.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_parser.h"

namespace mnemo::jinja {

struct Template::Parsed {
  NodeList nodes;
};

Expected<Template> Template::parse(std::string_view source, std::string name, const Options& options) {
  Template t;
  t.name_ = std::move(name);
  t.source_ = std::make_shared<const std::string>(normalize_source(source, options));
  auto nodes = parse_template(*t.source_, options);
  if (!nodes) {  // a template that breaks the grammar is a corrupt file; one outside the subset, unsupported
    const StatusCode code = nodes.status().code() == StatusCode::kInvalidArgument ? StatusCode::kCorrupt : nodes.status().code();
    return Status(code, t.name_ + ":" + nodes.status().message());
  }
  auto parsed = std::make_shared<Parsed>();
  parsed->nodes = std::move(nodes).value();
  t.parsed_ = std::move(parsed);
  return t;
}

Expected<std::string> Template::render(const Value& globals, const Limits& limits) const {
  Renderer r(*source_, limits);
  auto out = r.render(parsed_->nodes, globals);
  if (!out) return Status(out.status().code(), name_ + ":" + out.status().message());
  return out;
}

const Value* Renderer::Scope::lookup(std::string_view name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent) {
    for (const auto& [k, v] : s->vars) {
      if (k == name) return &v;
    }
  }
  return nullptr;
}

void Renderer::Scope::set(const std::string& name, Value v) {
  for (auto& [k, old] : vars) {
    if (k == name) {
      old = std::move(v);
      return;
    }
  }
  vars.emplace_back(name, std::move(v));
}

Status Renderer::charge(uint64_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps) {
    return out_of_range(str_printf("expected a render of at most %llu steps, found more (a runaway loop?)",
                                   static_cast<unsigned long long>(limits_.max_steps)));
  }
  return Status::ok();
}

Status Renderer::check_bytes(uint64_t bytes) const {
  if (bytes <= limits_.max_output_bytes) return Status::ok();
  return out_of_range(str_printf("expected strings of at most %llu bytes, found one of %llu",
                                 static_cast<unsigned long long>(limits_.max_output_bytes),
                                 static_cast<unsigned long long>(bytes)));
}

Status Renderer::check_items(uint64_t items) const {
  if (items <= limits_.max_items) return Status::ok();
  return out_of_range(str_printf("expected lists of at most %llu items, found one of %llu",
                                 static_cast<unsigned long long>(limits_.max_items),
                                 static_cast<unsigned long long>(items)));
}

Status Renderer::located(const Status& st, size_t offset) const {
  const std::string& m = st.message();
  size_t i = 0;
  while (i < m.size() && std::isdigit(static_cast<unsigned char>(m[i]))) ++i;
  if (i > 0 && i < m.size() && m[i] == ':') return st;  // already "L:C: ..."
  return Status(st.code(), location(src_, offset) + ": " + m);
}

Status Renderer::append(std::string& out, std::string_view text) const {
  MNEMO_RETURN_IF_ERROR(check_bytes(out.size() + text.size()));
  out.append(text);
  return Status::ok();
}

Expected<std::string> Renderer::render(const NodeList& nodes, const Value& globals) {
  Scope root;
  Value builtins = Value::dict();
  add_builtin_globals(builtins);
  for (const auto& [k, v] : builtins.dict_data().entries) root.set(k.as_string(), v);
  if (globals.is_dict()) {
    for (const auto& [k, v] : globals.dict_data().entries) {
      if (k.is_string()) root.set(k.as_string(), v);
    }
  }
  root_ = &root;
  std::string out;
  auto flow = exec_list(nodes, root, out);
  root_ = nullptr;
  for (Value& ns : namespaces_) ns.clear_entries();
  namespaces_.clear();
  if (!flow) return flow.status();
  return out;
}

Expected<Renderer::Flow> Renderer::exec_list(const NodeList& nodes, Scope& s, std::string& out) {
  for (const auto& n : nodes) {
    MNEMO_ASSIGN_OR_RETURN(Flow f, exec(*n, s, out));
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Expected<Renderer::Flow> Renderer::exec(const Node& n, Scope& s, std::string& out) {
  MNEMO_RETURN_IF_ERROR(located(charge(1), n.offset));
  switch (n.kind) {
    case Node::Kind::kText:
      MNEMO_RETURN_IF_ERROR(located(append(out, n.text), n.offset));
      return Flow::kNormal;
    case Node::Kind::kOutput: {
      MNEMO_ASSIGN_OR_RETURN(Value v, eval(*n.expr, s));
      auto text = str(v);
      if (!text) return located(text.status(), n.offset);
      MNEMO_RETURN_IF_ERROR(located(append(out, *text), n.offset));
      return Flow::kNormal;
    }
    case Node::Kind::kIf:
      for (const auto& [cond, body] : n.branches) {
        bool take = true;
        if (cond) {
          MNEMO_ASSIGN_OR_RETURN(Value c, eval(*cond, s));
          take = c.truthy();
        }
        if (take) return exec_list(body, s, out);
      }
      return Flow::kNormal;
    case Node::Kind::kFor: return exec_for(n, s, out);
    case Node::Kind::kSet:
      MNEMO_RETURN_IF_ERROR(exec_set(n, s));
      return Flow::kNormal;
    case Node::Kind::kSetBlock:
    case Node::Kind::kFilterBlock:
      MNEMO_RETURN_IF_ERROR(exec_block_value(n, s, out));
      return Flow::kNormal;
    case Node::Kind::kMacro: {
      const Node* m = &n;
      s.set(n.name, Value::function(n.name, [m](Renderer& r, const CallArgs& args) { return r.call_macro(*m, args); }));
      return Flow::kNormal;
    }
    case Node::Kind::kBreak: return Flow::kBreak;
    case Node::Kind::kContinue: return Flow::kContinue;
  }
  return Flow::kNormal;
}

namespace {

// Binds loop targets: one name takes the item, several unpack it.
Status bind_targets(const std::vector<std::string>& targets, const Value& item,
                    const std::function<void(const std::string&, Value)>& set) {
  if (targets.size() == 1) {
    set(targets[0], item);
    return Status::ok();
  }
  if (!item.is_list() || item.items().size() != targets.size()) {
    return invalid_argument(str_printf("expected a sequence of %zu values to unpack, found %s", targets.size(),
                                       item.is_list() ? str_printf("%zu values", item.items().size()).c_str()
                                                      : kind_name(item.kind())));
  }
  for (size_t i = 0; i < targets.size(); ++i) set(targets[i], item.items()[i]);
  return Status::ok();
}

Value loop_object(const std::vector<Value>& items, size_t i) {
  const int64_t n = static_cast<int64_t>(items.size());
  const int64_t k = static_cast<int64_t>(i);
  Value loop = Value::dict();
  loop.set("index0", k);
  loop.set("index", k + 1);
  loop.set("revindex0", n - k - 1);
  loop.set("revindex", n - k);
  loop.set("first", k == 0);
  loop.set("last", k == n - 1);
  loop.set("length", n);
  loop.set("depth", 1);
  loop.set("depth0", 0);
  loop.set("previtem", k > 0 ? items[i - 1] : Value::undefined("loop.previtem"));
  loop.set("nextitem", k + 1 < n ? items[i + 1] : Value::undefined("loop.nextitem"));
  loop.set("cycle", Value::function("loop.cycle", [k](Renderer&, const CallArgs& a) -> Expected<Value> {
             if (a.positional.empty()) return invalid_argument("loop.cycle: expected at least one value, found none");
             return a.positional[static_cast<size_t>(k) % a.positional.size()];
           }));
  return loop;
}

}  // namespace

Expected<Renderer::Flow> Renderer::exec_for(const Node& n, Scope& s, std::string& out) {
  MNEMO_ASSIGN_OR_RETURN(Value seq, eval(*n.expr, s));
  auto all = iterate(seq);
  if (!all) return located(all.status(), n.expr->offset);
  Scope inner;
  inner.parent = &s;
  auto set = [&inner](const std::string& k, Value v) { inner.set(k, std::move(v)); };
  std::vector<Value> items;
  if (n.cond) {
    for (const Value& item : *all) {
      MNEMO_RETURN_IF_ERROR(located(charge(1), n.offset));
      MNEMO_RETURN_IF_ERROR(located(bind_targets(n.targets, item, set), n.offset));
      MNEMO_ASSIGN_OR_RETURN(Value keep, eval(*n.cond, inner));
      if (keep.truthy()) items.push_back(item);
    }
  } else {
    items = std::move(all).value();
  }
  for (size_t i = 0; i < items.size(); ++i) {
    MNEMO_RETURN_IF_ERROR(located(charge(1), n.offset));
    MNEMO_RETURN_IF_ERROR(located(bind_targets(n.targets, items[i], set), n.offset));
    inner.set("loop", loop_object(items, i));
    MNEMO_ASSIGN_OR_RETURN(Flow f, exec_list(n.body, inner, out));
    if (f == Flow::kBreak) break;
  }
  if (items.empty()) {
    MNEMO_ASSIGN_OR_RETURN(Flow f, exec_list(n.else_body, s, out));
    return f;
  }
  return Flow::kNormal;
}

Status Renderer::exec_set(const Node& n, Scope& s) {
  MNEMO_ASSIGN_OR_RETURN(Value v, eval(*n.expr, s));
  if (!n.ns_name.empty()) {
    const Value* ns = s.lookup(n.ns_name);
    if (ns == nullptr || !ns->is_namespace()) {
      return invalid_argument(location(src_, n.offset) + ": expected '" + n.ns_name +
                              "' to be a namespace() to assign its attribute '" + n.attr + "', found " +
                              (ns == nullptr ? "undefined" : kind_name(ns->kind())));
    }
    Value target = *ns;  // shares the namespace's dict
    target.set(Value(n.attr), std::move(v));
    return Status::ok();
  }
  return located(bind_targets(n.targets, v, [&s](const std::string& k, Value x) { s.set(k, std::move(x)); }),
                 n.offset);
}

// {% set x %}...{% endset %} and {% filter f %}...{% endfilter %}: the body rendered, filtered.
Status Renderer::exec_block_value(const Node& n, Scope& s, std::string& out) {
  std::string body;
  MNEMO_ASSIGN_OR_RETURN(Flow f, exec_list(n.body, s, body));
  (void)f;
  Value v(body);
  if (n.expr) {
    const std::string* saved = block_value_;
    block_value_ = &body;
    auto filtered = eval(*n.expr, s);
    block_value_ = saved;
    if (!filtered) return filtered.status();
    v = std::move(filtered).value();
  }
  if (n.kind == Node::Kind::kSetBlock) {
    s.set(n.targets[0], std::move(v));
    return Status::ok();
  }
  auto text = str(v);
  if (!text) return located(text.status(), n.offset);
  return located(append(out, *text), n.offset);
}

Expected<Value> Renderer::call(const Value& fn, const CallArgs& args) {
  if (!fn.is_function()) {
    if (fn.is_undefined()) return invalid_argument("expected a function, found undefined '" + fn.as_string() + "'");
    return invalid_argument(std::string("expected a function, found ") + kind_name(fn.kind()));
  }
  return fn.function_data().fn(*this, args);
}

Expected<Value> Renderer::call_macro(const Node& m, const CallArgs& args) {
  if (call_depth_ >= limits_.max_call_depth) {
    return out_of_range(str_printf("expected macro calls nested at most %d deep, found deeper (a runaway recursion?)",
                                   limits_.max_call_depth));
  }
  Scope scope;
  scope.parent = root_;
  std::vector<Value> extra;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < m.params.size()) scope.set(m.params[i].first, args.positional[i]);
    else extra.push_back(args.positional[i]);
  }
  scope.set("varargs", Value::tuple(std::move(extra)));
  Value kwargs = Value::dict();
  for (const auto& [k, v] : args.keyword) {
    bool is_param = false;
    for (const auto& p : m.params) is_param = is_param || p.first == k;
    if (is_param) scope.set(k, v);
    else kwargs.set(Value(k), v);
  }
  scope.set("kwargs", kwargs);
  ++call_depth_;
  for (const auto& [name, def] : m.params) {
    bool bound = false;
    for (const auto& [k, v] : scope.vars) bound = bound || k == name;
    if (bound) continue;
    Value v = Value::undefined(name);
    if (def) {
      auto d = eval(*def, scope);
      if (!d) {
        --call_depth_;
        return d.status();
      }
      v = std::move(d).value();
    }
    scope.set(name, std::move(v));
  }
  std::string out;
  auto f = exec_list(m.body, scope, out);
  --call_depth_;
  if (!f) return f.status();
  return Value(std::move(out));
}

}  // namespace mnemo::jinja
