// Unit tests of the Jinja interpreter: syntax, whitespace control, values, filters, tests,
// methods, macros, errors and limits. Expected texts are what Python's Jinja2 3.1 renders under
// Hugging Face's settings (trim_blocks, lstrip_blocks); tests/data/chat/jinja2_cases.json holds
// more, produced by Jinja2 itself (jinja2_cases_test).
#include <gtest/gtest.h>

#include "chat/chat_json.h"
#include "chat/jinja.h"

namespace mnemo::jinja {
namespace {

// Renders `src` with the variables of a JSON object; "ERROR: <message>" on failure.
std::string render(const std::string& src, const std::string& vars_json = "{}", const Limits& limits = {}) {
  auto t = Template::parse(src, "t");
  if (!t) return "ERROR: " + t.status().message();
  auto vars = chat::parse_json_value(vars_json, "vars");
  EXPECT_TRUE(vars.has_value()) << vars.status().message();
  auto out = t->render(*vars, limits);
  if (!out) return "ERROR: " + out.status().message();
  return *out;
}

TEST(Jinja, TextAndExpressions) {
  EXPECT_EQ(render("Hello {{ name }}!", R"({"name": "world"})"), "Hello world!");
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }}"), "7 9 3 -4 1 2");
  EXPECT_EQ(render("{{ 7 / 2 }} {{ 2 ** 10 }} {{ 1.5 + 1 }} {{ 10 / 5 }}"), "3.5 1024 2.5 2.0");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ true }}"), "a1NoneTrue");
  EXPECT_EQ(render("{{ 'ab' * 3 }}{{ [1] * 2 }}"), "ababab[1, 1]");
  EXPECT_EQ(render("{{ [1, 'a', none, true, 1.0, {'k': [2]}] }}"), "[1, 'a', None, True, 1.0, {'k': [2]}]");
  EXPECT_EQ(render("{{ \"it's\" }} {{ [\"it's\", 'say \"hi\"'] }}"), "it's [\"it's\", 'say \"hi\"']");
  EXPECT_EQ(render("{{ 'a' 'b' }}{{ \"\\n\" == '\\n' }}{{ '\\u00e9' }}"), "abTrue\xc3\xa9");
  EXPECT_EQ(render("{{ 1e20 }} {{ 1e15 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 0.0001 }}"),
            "1e+20 1000000000000000.0 0.30000000000000004 1e-05 0.0001");
}

TEST(Jinja, UndefinedAndNone) {
  EXPECT_EQ(render("[{{ missing }}][{{ none }}][{{ x.y }}]", R"({"x": {}})"), "[][None][]");
  EXPECT_EQ(render("{{ missing is defined }}{{ none is none }}{{ x.a is defined }}", R"({"x": {"a": 1}})"),
            "FalseTrueTrue");
  EXPECT_EQ(render("{% for x in missing %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_NE(render("{{ missing.attr }}").find("ERROR: t:1:11: expected a value before '.attr', found undefined 'missing'"),
            std::string::npos)
      << render("{{ missing.attr }}");
  EXPECT_EQ(render("{{ missing | default('d') }}{{ '' | default('e', true) }}{{ 0 | default('f') }}"), "de0");
  EXPECT_EQ(render("{{ none.attr is defined }}{{ 'abc'[10] is defined }}"), "FalseFalse");
}

TEST(Jinja, Comparisons) {
  EXPECT_EQ(render("{{ 1 == 1.0 }}{{ 1 == true }}{{ 'a' < 'b' }}{{ [1, 2] < [1, 3] }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}"),
            "TrueTrueTrueTrueTrueFalse");
  EXPECT_EQ(render("{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in 'abc' }}"), "TrueTrueTrueTrue");
  EXPECT_EQ(render("{{ {'a': [1]} == {'a': [1]} }}{{ not 0 }}{{ 0 or 'x' }}{{ 1 and 'y' }}{{ '' and 'z' }}"),
            "TrueTruexy");
  EXPECT_EQ(render("{{ 'yes' if 1 > 0 else 'no' }}{{ 'yes' if 0 else 'no' }}[{{ 'a' if false }}]"), "yesno[]");
  EXPECT_NE(render("{{ 'a' < 1 }}").find("ERROR"), std::string::npos);
}

TEST(Jinja, SubscriptsAndSlices) {
  const std::string v = R"({"l": [0, 1, 2, 3, 4], "s": "h\u00e9llo", "d": {"a": {"b": 7}}})";
  EXPECT_EQ(render("{{ l[1] }}{{ l[-1] }}{{ l[1:3] }}{{ l[::-1] }}{{ l[:-2] }}{{ l[::2] }}", v), "14[1, 2][4, 3, 2, 1, 0][0, 1, 2][0, 2, 4]");
  EXPECT_EQ(render("{{ s[1] }}{{ s[1:3] }}{{ s[-1] }}{{ s|length }}{{ s[::-1] }}", v), "\xc3\xa9\xc3\xa9lo5oll\xc3\xa9h");
  EXPECT_EQ(render("{{ d.a.b }}{{ d['a']['b'] }}{{ d.a['b'] }}{{ l.0 }}", v), "7770");
  EXPECT_EQ(render("{{ l[10] is defined }}{{ l[2:100] }}", v), "False[2, 3, 4]");
}

TEST(Jinja, WhitespaceControl) {
  // trim_blocks removes the newline after a block tag; lstrip_blocks the indentation before it.
  EXPECT_EQ(render("{% if true %}\n  yes\n{% endif %}\nend"), "  yes\nend");
  EXPECT_EQ(render("<\n    {% if true %}\nx\n    {% endif %}\n>"), "<\nx\n>");
  EXPECT_EQ(render("a  {{- ' b ' -}}  c"), "a b c");
  EXPECT_EQ(render("a\n  {%- if true %} b {% endif -%}\n  c"), "a b c");
  EXPECT_EQ(render("a {# comment #}\nb"), "a b");
  EXPECT_EQ(render("  {{ 'x' }}\n"), "  x");  // lstrip does not apply to {{ }}; one trailing newline dropped
  EXPECT_EQ(render("x {%+ if true %}y{% endif +%}\nz"), "x y\nz");
  EXPECT_EQ(render("{% raw %}{{ not }}{% endraw %}"), "{{ not }}");
  EXPECT_EQ(render("a\r\nb"), "a\nb");
}

TEST(Jinja, ForLoops) {
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}"),
            "10TrueFalse3;21FalseFalse3;32FalseTrue3;");
  EXPECT_EQ(render("{% for x in [1, 2, 3, 4] if x % 2 == 0 %}{{ x }}{{ loop.length }}{% endfor %}"), "2242");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }},{% endfor %}"), "a=1,b=2,");
  EXPECT_EQ(render("{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}{% for c in 'h\u00e9' %}[{{ c }}]{% endfor %}"),
            "ab[h][\xc3\xa9]");
  EXPECT_EQ(render("{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "13");
  EXPECT_EQ(render("{% for x in [1, 2] %}{{ loop.previtem is defined }}{{ loop.nextitem }}{% endfor %}"), "False2True");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.cycle('a', 'b') }}{% endfor %}"), "aba");
  EXPECT_EQ(render("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}"), "37");
  EXPECT_EQ(render("{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(5, 0, -2) %}{{ i }}{% endfor %}"), "012531");
}

TEST(Jinja, ScopingAndNamespaces) {
  // A set inside a loop does not leak out; a namespace attribute does.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"), "1");
  EXPECT_EQ(render("{% set ns = namespace(x=1, y='a') %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}{{ ns.y }}"),
            "4a");
  EXPECT_EQ(render("{% if true %}{% set x = 5 %}{% endif %}{{ x }}"), "5");
  EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% set x %}  block {{ 1 }} {% endset %}[{{ x }}]{% set y | trim %}  t  {% endset %}[{{ y }}]"),
            "[  block 1 ][t]");
  EXPECT_EQ(render("{% filter upper %}abc{% endfilter %}"), "ABC");
  EXPECT_NE(render("{% set n = 1 %}{% set n.x = 2 %}").find("expected 'n' to be a namespace()"), std::string::npos);
}

TEST(Jinja, Macros) {
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', punct='?') }}"),
            "Hi a! Hi b?");
  EXPECT_EQ(render("{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}"),
            "120");
  EXPECT_EQ(render("{% set g = 'G' %}{% macro m() %}{{ g }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, k=2) }}"),
            "G(1,){'k': 2}");
  EXPECT_NE(render("{% macro r() %}{{ r() }}{% endmacro %}{{ r() }}").find("expected macro calls nested at most"),
            std::string::npos);
}

TEST(Jinja, Filters) {
  EXPECT_EQ(render("{{ '  a b  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ 'Hello' | upper }}{{ 'Hello' | lower }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}"),
            "a b|a|HELLOhello|Hello World|Hello");
  EXPECT_EQ(render("{{ [1, 2, 3] | length }}{{ 'abc' | count }}{{ {'a': 1} | length }}{{ [3, 1, 2] | first }}{{ [3, 1, 2] | last }}"), "33132");
  EXPECT_EQ(render("{{ ['a', 'b'] | join(', ') }}|{{ [{'n': 'x'}, {'n': 'y'}] | map(attribute='n') | join }}|{{ ['a', 'b'] | map('upper') | list }}"),
            "a, b|xy|['A', 'B']");
  EXPECT_EQ(render("{{ [3, 1, 2] | sort }}{{ ['b', 'A', 'c'] | sort }}{{ [3, 1, 2] | sort(reverse=true) }}{{ [1, 2, 1] | unique | list }}"),
            "[1, 2, 3]['A', 'b', 'c'][3, 2, 1][1, 2]");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | items | list }}{{ {'b': 1, 'a': 2} | dictsort }}"), "[('b', 1), ('a', 2)][('a', 2), ('b', 1)]");
  EXPECT_EQ(render("{{ 'aXbX' | replace('X', '-') }}{{ 'aaa' | replace('a', 'b', 2) }}{{ 42 | string }}{{ '7' | int + 1 }}{{ '2.5' | float }}{{ -3 | abs }}"),
            "a-b-bba4282.53");
  EXPECT_EQ(render("{{ [1, 2, 3, 4] | select('odd') | list }}{{ [1, 2, 3, 4] | reject('odd') | list }}{{ [1, 2, 3] | sum }}{{ [1, 5, 3] | max }}{{ [4, 2] | min }}"),
            "[1, 3][2, 4]652");
  const std::string msgs = R"({"m": [{"role": "user", "c": 1}, {"role": "assistant"}, {"role": "user", "c": 2}]})";
  EXPECT_EQ(render("{{ m | selectattr('role', 'equalto', 'user') | map(attribute='c') | list }}{{ m | rejectattr('c', 'defined') | list | length }}{{ m | selectattr('c') | list | length }}", msgs),
            "[1, 2]12");
  EXPECT_EQ(render("{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}"), "a\n  b\n\n  c|  a\n  b");
  EXPECT_EQ(render("{{ '%s is %d' | format('x', 3) }}{{ '<a>' | e }}{{ 3.14159 | round(2) }}{{ 'a b  c' | wordcount }}{{ [1, 2] | reverse | list }}"),
            "x is 3&lt;a&gt;3.143[2, 1]");
  EXPECT_EQ(render("{{ x | tojson }}|{{ x | tojson(indent=2) }}", R"({"x": {"a": [1, 2.5, null, true, "q\"\n\u00e9"], "b": {}}})"),
            "{\"a\": [1, 2.5, null, true, \"q\\\"\\n\xc3\xa9\"], \"b\": {}}|{\n  \"a\": [\n    1,\n    2.5,\n    null,\n    true,\n    \"q\\\"\\n\xc3\xa9\"\n  ],\n  \"b\": {}\n}");
  EXPECT_EQ(render("{{ '\\u00e9' | tojson(ensure_ascii=true) }}"), "\"\\u00e9\"");
  // Markup (|safe, |escape) + str escapes the str, as Python's Markup does.
  EXPECT_EQ(render("{{ 'a'|safe + '<\"b\">' }}|{{ '<x>' + 'y'|safe }}|{{ 'a'|safe + 'b'|safe }}|{{ 'q' ~ '<'|safe ~ '<' }}"),
            "a&lt;&#34;b&#34;&gt;|&lt;x&gt;y|ab|q<<");
}

TEST(Jinja, Tests) {
  EXPECT_EQ(render("{{ 'a' is string }}{{ 1 is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is iterable }}{{ 1 is iterable }}"),
            "TrueTrueTrueTrueTrueTrueTrueFalse");
  EXPECT_EQ(render("{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 1 is equalto 1 }}{{ 2 is gt 1 }}{{ 'a' is in 'abc' }}{{ none is not none }}"),
            "TrueTrueTrueTrueTrueTrueFalse");
  EXPECT_EQ(render("{{ true is true }}{{ false is boolean }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ range is callable }}"),
            "TrueTrueTrueTrueTrue");
}

TEST(Jinja, Methods) {
  EXPECT_EQ(render("{{ ' a '.strip() }}|{{ 'xax'.strip('x') }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}"),
            "a|a|a | a|['a', 'b', '', 'c']|['a', 'b']|['a', 'b,c']|['a,b', 'c']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'aB'.upper() }}{{ 'aB'.lower() }}{{ 'a b'.title() }}{{ 'abca'.replace('a', 'x') }}{{ 'abc'.find('c') }}{{ 'abca'.count('a') }}{{ '-'.join(['a', 'b']) }}"),
            "TrueTrueABabA Bxbcx22a-b");
  EXPECT_EQ(render("{{ d.get('a') }}{{ d.get('z') }}{{ d.get('z', 5) }}{{ d.keys() | list }}{{ d.values() | list }}{{ d.items() | list }}", R"({"d": {"a": 1}})"),
            "1None5['a'][1][('a', 1)]");
  EXPECT_EQ(render("{{ '12'.isdigit() }}{{ 'a\\nb'.splitlines() }}"), "True['a', 'b']");
}

TEST(Jinja, GlobalsAndExceptions) {
  EXPECT_EQ(render("{{ dict(a=1) }}{{ namespace(a=1).a }}{{ range(2, 5) | list }}"), "{'a': 1}1[2, 3, 4]");
  const std::string e = render("line1\n{{ raise_exception('roles must alternate') }}");
  EXPECT_EQ(e, "ERROR: t:2:4: the template raised an exception: roles must alternate");
}

TEST(Jinja, ParseErrorsNameLineAndColumn) {
  EXPECT_EQ(render("{{ 1 + }}"), "ERROR: t:1:8: expected an expression, found the end of the tag");
  EXPECT_EQ(render("ab\n{% if x %}"), "ERROR: t:2:3: expected 'elif' or 'else' or 'endif' closing the 'if' opened here, found the end of the template");
  EXPECT_EQ(render("{{ x"), "ERROR: t:1:1: expected '}}' closing the tag '{{' opened here, found the end of the template");
  EXPECT_EQ(render("{{ x | nosuchfilter }}"), "ERROR: t:1:8: expected a filter mnemo's Jinja subset knows, found 'nosuchfilter'");
  EXPECT_EQ(render("{{ x is nosuchtest }}"), "ERROR: t:1:9: expected a test mnemo's Jinja subset knows, found 'nosuchtest'");
  EXPECT_EQ(render("{% include 'x' %}").rfind("ERROR: t:1:3: expected a statement of mnemo's Jinja subset", 0), 0u);
  EXPECT_EQ(render("{% endfor %}"), "ERROR: t:1:3: expected a statement (if, for, set, macro, filter, ...), found 'endfor'");
  EXPECT_EQ(render("{{ 'abc }}"), "ERROR: t:1:1: expected '}}' closing the tag '{{' opened here, found the end of the template");
  EXPECT_EQ(render("{{ a b }}"), "ERROR: t:1:6: expected the end of the tag, found 'b'");
  EXPECT_EQ(render("{{ $ }}"), "ERROR: t:1:4: expected an expression, found the character '$'");
  EXPECT_EQ(render("{{ 99999999999999999999 }}").rfind("ERROR: t:1:4: expected an integer that fits in 64 bits", 0), 0u);
}

TEST(Jinja, RuntimeErrors) {
  EXPECT_EQ(render("{{ 'a' + 1 }}"), "ERROR: t:1:8: expected operands '+' supports, found str and int");
  EXPECT_EQ(render("{{ 1 // 0 }}"), "ERROR: t:1:6: expected a nonzero divisor, found 0");
  EXPECT_EQ(render("{{ 9223372036854775807 + 1 }}"), "ERROR: t:1:24: '+': expected a result that fits in 64 bits");
  EXPECT_EQ(render("{{ nofunc() }}"), "ERROR: t:1:4: expected a function, found undefined 'nofunc'");
  EXPECT_EQ(render("{% for x in 5 %}{% endfor %}"), "ERROR: t:1:13: expected something to iterate (a list, dict or string), found int");
  EXPECT_EQ(render("{{ 5 | join }}"), "ERROR: t:1:8: join: expected something to iterate (a list, dict or string), found int");
  EXPECT_EQ(render("{{ [1] | join(attribute=1, bad=2) }}"), "ERROR: t:1:10: join: expected no keyword argument 'bad', found one");
}

TEST(Jinja, Limits) {
  Limits small;
  small.max_output_bytes = 1000;
  small.max_steps = 10000;
  small.max_items = 1000;
  EXPECT_NE(render("{{ 'x' * 2000 }}", "{}", small).find("expected strings of at most 1000 bytes"), std::string::npos);
  EXPECT_NE(render("{% for i in range(100000) %}{% endfor %}", "{}", small).find("expected lists of at most"), std::string::npos);
  EXPECT_NE(render("{% for i in range(50) %}{% for j in range(50) %}{% for k in range(50) %}{% endfor %}{% endfor %}{% endfor %}", "{}", small)
                .find("expected a render of at most 10000 steps"),
            std::string::npos);
  EXPECT_NE(render("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "{}", small)
                .find("expected strings of at most"),
            std::string::npos);
  EXPECT_NE(render("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}").find("nested at most"), std::string::npos);
  const std::string deep = std::string(500, '(') + "1" + std::string(500, ')');
  EXPECT_NE(render("{{ " + deep + " }}").find("expected expressions nested at most"), std::string::npos);
  std::string blocks;
  for (int i = 0; i < 200; ++i) blocks += "{% if true %}";
  EXPECT_NE(render(blocks).find("expected blocks nested at most"), std::string::npos);
}

}  // namespace
}  // namespace mnemo::jinja
