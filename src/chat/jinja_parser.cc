// chat/jinja_parser.cc: statements ({% ... %}) and the block structure of a template.
#include "chat/jinja_parser.h"

#include <set>

#include "base/strings.h"

namespace mnemo::jinja {
namespace {

// Statements outside the subset, rejected with a message that names them.
const std::set<std::string, std::less<>>& unsupported_statements() {
  static const std::set<std::string, std::less<>> kNames = {"include", "import", "from", "extends", "block",
                                                            "call", "with", "do", "autoescape", "trans"};
  return kNames;
}

class StatementParser {
 public:
  StatementParser(std::string_view src, std::vector<Segment> segs) : src_(src), segs_(std::move(segs)) {}

  // Nodes up to a statement whose keyword is in `ends` (returned in *end, its parser positioned
  // after the keyword), or the end of the template when `ends` is empty.
  Status block(NodeList* out, const std::set<std::string, std::less<>>& ends, std::string* end,
               std::unique_ptr<ExprParser>* end_tag, size_t opened_at, const char* opener);

 private:
  Status statement(std::unique_ptr<ExprParser> p, const std::string& keyword, size_t offset, NodeList* out);
  Status parse_if(ExprParser& p, size_t offset, NodeList* out);
  Status parse_for(ExprParser& p, size_t offset, NodeList* out);
  Status parse_set(ExprParser& p, size_t offset, NodeList* out);
  Status parse_macro(ExprParser& p, size_t offset, NodeList* out);
  Status parse_filter_block(ExprParser& p, size_t offset, NodeList* out);
  // The body of a block statement up to `end_keyword` (which must end its tag).
  Status body_until(NodeList* body, const std::string& end_keyword, size_t offset, const char* opener);
  Status enter(size_t offset);

  std::string_view src_;
  std::vector<Segment> segs_;
  size_t i_ = 0;
  int depth_ = 0;
};

NodePtr make_node(Node::Kind kind, size_t offset) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  n->offset = offset;
  return n;
}

Status StatementParser::enter(size_t offset) {
  if (++depth_ > kMaxParseDepth) {
    return invalid_argument(location(src_, offset) +
                            str_printf(": expected blocks nested at most %d deep, found deeper", kMaxParseDepth));
  }
  return Status::ok();
}

Status StatementParser::block(NodeList* out, const std::set<std::string, std::less<>>& ends, std::string* end,
                              std::unique_ptr<ExprParser>* end_tag, size_t opened_at, const char* opener) {
  while (i_ < segs_.size()) {
    const Segment& seg = segs_[i_++];
    if (seg.kind == Segment::Kind::kText) {
      NodePtr n = make_node(Node::Kind::kText, seg.offset);
      n->text = seg.text;
      out->push_back(std::move(n));
      continue;
    }
    MNEMO_ASSIGN_OR_RETURN(std::vector<Token> toks, tokenize(src_, seg.offset, seg.offset + seg.text.size()));
    auto p = std::make_unique<ExprParser>(src_, std::move(toks));
    if (seg.kind == Segment::Kind::kExpr) {
      NodePtr n = make_node(Node::Kind::kOutput, seg.offset);
      MNEMO_ASSIGN_OR_RETURN(n->expr, p->expression(true));
      MNEMO_RETURN_IF_ERROR(p->expect_end());
      out->push_back(std::move(n));
      continue;
    }
    MNEMO_ASSIGN_OR_RETURN(std::string keyword, p->expect_identifier("a statement name (if, for, set, ...)"));
    if (ends.count(keyword) != 0) {
      *end = keyword;
      *end_tag = std::move(p);
      return Status::ok();
    }
    MNEMO_RETURN_IF_ERROR(statement(std::move(p), keyword, seg.offset, out));
  }
  if (ends.empty()) return Status::ok();
  std::string want;
  for (const auto& e : ends) want += (want.empty() ? "'" : " or '") + e + "'";
  return invalid_argument(location(src_, opened_at) + ": expected " + want + " closing the '" + opener +
                          "' opened here, found the end of the template");
}

Status StatementParser::statement(std::unique_ptr<ExprParser> p, const std::string& keyword, size_t offset,
                                  NodeList* out) {
  if (keyword == "if") return parse_if(*p, offset, out);
  if (keyword == "for") return parse_for(*p, offset, out);
  if (keyword == "set") return parse_set(*p, offset, out);
  if (keyword == "macro") return parse_macro(*p, offset, out);
  if (keyword == "filter") return parse_filter_block(*p, offset, out);
  if (keyword == "break" || keyword == "continue") {
    MNEMO_RETURN_IF_ERROR(p->expect_end());
    out->push_back(make_node(keyword == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, offset));
    return Status::ok();
  }
  if (keyword == "generation") {  // Hugging Face's marker of assistant text: its body renders as is
    MNEMO_RETURN_IF_ERROR(p->expect_end());
    return body_until(out, "endgeneration", offset, "generation");
  }
  if (unsupported_statements().count(keyword) != 0) {
    return unsupported(location(src_, offset) + ": expected a statement of mnemo's Jinja subset (if, for, set, macro, "
                       "filter, break, continue), found '" + keyword + "', which it does not support");
  }
  return invalid_argument(location(src_, offset) + ": expected a statement (if, for, set, macro, filter, ...), found " + show(keyword, 32));
}

Status StatementParser::body_until(NodeList* body, const std::string& end_keyword, size_t offset, const char* opener) {
  MNEMO_RETURN_IF_ERROR(enter(offset));
  std::string end;
  std::unique_ptr<ExprParser> tag;
  MNEMO_RETURN_IF_ERROR(block(body, {end_keyword}, &end, &tag, offset, opener));
  --depth_;
  return tag->expect_end();
}

Status StatementParser::parse_if(ExprParser& p, size_t offset, NodeList* out) {
  MNEMO_RETURN_IF_ERROR(enter(offset));
  NodePtr n = make_node(Node::Kind::kIf, offset);
  MNEMO_ASSIGN_OR_RETURN(ExprPtr cond, p.expression(true));
  MNEMO_RETURN_IF_ERROR(p.expect_end());
  while (true) {
    NodeList body;
    std::string end;
    std::unique_ptr<ExprParser> tag;
    MNEMO_RETURN_IF_ERROR(block(&body, cond ? std::set<std::string, std::less<>>{"elif", "else", "endif"}
                                            : std::set<std::string, std::less<>>{"endif"},
                                &end, &tag, offset, "if"));
    n->branches.emplace_back(std::move(cond), std::move(body));
    if (end == "endif") {
      MNEMO_RETURN_IF_ERROR(tag->expect_end());
      break;
    }
    if (end == "elif") {
      MNEMO_ASSIGN_OR_RETURN(cond, tag->expression(true));
    } else {
      cond = nullptr;
    }
    MNEMO_RETURN_IF_ERROR(tag->expect_end());
  }
  --depth_;
  out->push_back(std::move(n));
  return Status::ok();
}

Status StatementParser::parse_for(ExprParser& p, size_t offset, NodeList* out) {
  MNEMO_RETURN_IF_ERROR(enter(offset));
  NodePtr n = make_node(Node::Kind::kFor, offset);
  const bool paren = p.accept_op("(");
  do {
    MNEMO_ASSIGN_OR_RETURN(std::string t, p.expect_identifier("a loop variable name"));
    n->targets.push_back(std::move(t));
  } while (p.accept_op(","));
  if (paren) MNEMO_RETURN_IF_ERROR(p.expect_op(")"));
  if (!p.accept_name("in")) return p.error("'in'");
  MNEMO_ASSIGN_OR_RETURN(n->expr, p.expression(false));
  if (p.accept_name("if")) {
    MNEMO_ASSIGN_OR_RETURN(n->cond, p.expression(false));
  }
  if (p.at_name("recursive")) {
    return unsupported(location(src_, p.peek().offset) + ": expected a plain for loop, found 'recursive', which "
                       "mnemo's Jinja subset does not support");
  }
  MNEMO_RETURN_IF_ERROR(p.expect_end());
  std::string end;
  std::unique_ptr<ExprParser> tag;
  MNEMO_RETURN_IF_ERROR(block(&n->body, {"else", "endfor"}, &end, &tag, offset, "for"));
  MNEMO_RETURN_IF_ERROR(tag->expect_end());
  if (end == "else") {
    MNEMO_RETURN_IF_ERROR(block(&n->else_body, {"endfor"}, &end, &tag, offset, "for"));
    MNEMO_RETURN_IF_ERROR(tag->expect_end());
  }
  --depth_;
  out->push_back(std::move(n));
  return Status::ok();
}

Status StatementParser::parse_set(ExprParser& p, size_t offset, NodeList* out) {
  NodePtr n = make_node(Node::Kind::kSet, offset);
  MNEMO_ASSIGN_OR_RETURN(std::string first, p.expect_identifier("a variable name after 'set'"));
  if (p.accept_op(".")) {
    n->ns_name = std::move(first);
    MNEMO_ASSIGN_OR_RETURN(n->attr, p.expect_identifier("an attribute name"));
  } else {
    n->targets.push_back(std::move(first));
    while (p.accept_op(",")) {
      MNEMO_ASSIGN_OR_RETURN(std::string t, p.expect_identifier("a variable name"));
      n->targets.push_back(std::move(t));
    }
  }
  if (p.accept_op("=")) {
    MNEMO_ASSIGN_OR_RETURN(n->expr, p.expression(true));
    MNEMO_RETURN_IF_ERROR(p.expect_end());
    out->push_back(std::move(n));
    return Status::ok();
  }
  if (!n->ns_name.empty() || n->targets.size() != 1) return p.error("'='");
  n->kind = Node::Kind::kSetBlock;
  if (p.accept_op("|")) {
    MNEMO_ASSIGN_OR_RETURN(n->expr, p.filter_chain(nullptr));
    while (p.accept_op("|")) {
      MNEMO_ASSIGN_OR_RETURN(n->expr, p.filter_chain(std::move(n->expr)));
    }
  }
  MNEMO_RETURN_IF_ERROR(p.expect_end());
  MNEMO_RETURN_IF_ERROR(body_until(&n->body, "endset", offset, "set"));
  out->push_back(std::move(n));
  return Status::ok();
}

Status StatementParser::parse_macro(ExprParser& p, size_t offset, NodeList* out) {
  NodePtr n = make_node(Node::Kind::kMacro, offset);
  MNEMO_ASSIGN_OR_RETURN(n->name, p.expect_identifier("a macro name"));
  MNEMO_RETURN_IF_ERROR(p.expect_op("("));
  bool trailing_comma = true;
  while (!p.accept_op(")")) {
    if (!trailing_comma) return p.error("',' or ')'");
    MNEMO_ASSIGN_OR_RETURN(std::string param, p.expect_identifier("a parameter name"));
    ExprPtr def;
    if (p.accept_op("=")) {
      MNEMO_ASSIGN_OR_RETURN(def, p.expression(true));
    }
    n->params.emplace_back(std::move(param), std::move(def));
    trailing_comma = p.accept_op(",");
  }
  MNEMO_RETURN_IF_ERROR(p.expect_end());
  MNEMO_RETURN_IF_ERROR(body_until(&n->body, "endmacro", offset, "macro"));
  out->push_back(std::move(n));
  return Status::ok();
}

Status StatementParser::parse_filter_block(ExprParser& p, size_t offset, NodeList* out) {
  NodePtr n = make_node(Node::Kind::kFilterBlock, offset);
  MNEMO_ASSIGN_OR_RETURN(n->expr, p.filter_chain(nullptr));
  while (p.accept_op("|")) {
    MNEMO_ASSIGN_OR_RETURN(n->expr, p.filter_chain(std::move(n->expr)));
  }
  MNEMO_RETURN_IF_ERROR(p.expect_end());
  MNEMO_RETURN_IF_ERROR(body_until(&n->body, "endfilter", offset, "filter"));
  out->push_back(std::move(n));
  return Status::ok();
}

}  // namespace

Expected<NodeList> parse_template(std::string_view src, const Options& options) {
  MNEMO_ASSIGN_OR_RETURN(std::vector<Segment> segs, split_template(src, options));
  StatementParser parser(src, std::move(segs));
  NodeList nodes;
  std::string end;
  std::unique_ptr<ExprParser> tag;
  MNEMO_RETURN_IF_ERROR(parser.block(&nodes, {}, &end, &tag, 0, ""));
  return nodes;
}

}  // namespace mnemo::jinja
