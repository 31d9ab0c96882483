// analysis/roofline_report.cc: the roofline cost model's JSON report and SVG plot
// (include/mnemo/roofline.h).
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "mnemo/roofline.h"
#include "mnemo/util.h"

namespace mnemo {
namespace {

using Json = nlohmann::ordered_json;

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Plot area in pixels and the decades it spans on each axis.
struct Frame {
  double left = 80, top = 50, width = 640, height = 440;
  double x_lo = -2, x_hi = 4, y_lo = 0, y_hi = 3;  // log10 of intensity and of GFLOP/s
  double px(double intensity) const { return left + (std::log10(intensity) - x_lo) / (x_hi - x_lo) * width; }
  double py(double gflop_s) const { return top + height - (std::log10(gflop_s) - y_lo) / (y_hi - y_lo) * height; }
};

const char* stage_color(Stage s) { return s == Stage::kPrefill ? "#c0392b" : "#2e6fb7"; }

}  // namespace

std::string roofline_json(const HardwareProfile& profile, const ModelInfo& info, const std::vector<StageCost>& stages) {
  Json j;
  j["model"] = {{"path", info.path}, {"name", info.name}, {"arch", info.arch}, {"n_layer", info.n_layer},
                {"weight_bytes", info.weight_bytes}};
  j["profile"] = {{"name", profile.name}, {"source", profile.source}, {"notes", profile.notes}};
  j["stages"] = Json::array();
  for (const StageCost& st : stages) {
    const RooflineRequest& r = st.request;
    Json s = {{"stage", stage_name(r.stage)},
              {"n_tokens", r.n_tokens},
              {"n_ctx", r.n_ctx},
              {"n_batch", r.n_batch},
              {"n_seq", r.n_seq},
              {"n_threads", r.n_threads},
              {"kv_bytes_per_value", r.kv_bytes_per_value},
              {"bandwidth_gb_s", st.bandwidth_gb_s},
              {"flops", st.flops},
              {"bytes", st.bytes},
              {"seconds", st.seconds},
              {"layer_seconds", st.layer_seconds()},
              {"tokens_per_s", st.tokens_per_s}};
    s["ops"] = Json::array();
    for (const OpCost& c : st.ops) {
      s["ops"].push_back({{"name", c.name},
                          {"kind", c.kind},
                          {"per_layer", c.per_layer},
                          {"count", c.count},
                          {"flops", c.flops},
                          {"weight_bytes", c.weight_bytes},
                          {"act_read_bytes", c.act_read_bytes},
                          {"act_write_bytes", c.act_write_bytes},
                          {"kv_read_bytes", c.kv_read_bytes},
                          {"kv_write_bytes", c.kv_write_bytes},
                          {"bytes", c.bytes()},
                          {"intensity", c.intensity()},
                          {"bound", c.memory_bound() ? "memory" : "compute"},
                          {"gflop_s_roof", c.gflop_s_roof},
                          {"gb_s_roof", c.gb_s_roof},
                          {"compute_seconds", c.compute_seconds},
                          {"memory_seconds", c.memory_seconds},
                          {"seconds", c.seconds}});
    }
    j["stages"].push_back(s);
  }
  return j.dump(2) + "\n";
}

std::string roofline_svg(const HardwareProfile& profile, const ModelInfo& info, const std::vector<StageCost>& stages) {
  // The points: attained GFLOP/s = flops / seconds at intensity flops / bytes.
  struct Point {
    double x, y;
    std::string label;
    Stage stage;
  };
  std::vector<Point> points;
  struct Roof {
    double gflop_s;
    std::string label;
    Stage stage;
  };
  std::vector<Roof> roofs;
  std::vector<std::pair<std::string, double>> memory_roofs;  // weight types' own streaming rates
  double bw = 0;
  for (const StageCost& st : stages) {
    bw = std::max(bw, st.bandwidth_gb_s);
    std::set<std::pair<std::string, long long>> seen;
    for (const OpCost& c : st.ops) {
      if (c.flops <= 0 || c.bytes() <= 0 || c.seconds <= 0) continue;
      points.push_back({c.intensity(), c.flops / c.seconds / 1e9, c.name, st.request.stage});
      if (seen.insert({c.kind, std::llround(c.gflop_s_roof * 1000)}).second) {
        roofs.push_back({c.gflop_s_roof, c.kind + " (" + stage_name(st.request.stage) + ")", st.request.stage});
      }
      if (c.gb_s_roof > 0 && c.gb_s_roof != st.bandwidth_gb_s &&
          std::none_of(memory_roofs.begin(), memory_roofs.end(), [&](const auto& m) { return m.first == c.kind; })) {
        memory_roofs.push_back({c.kind, c.gb_s_roof});
      }
    }
  }
  Frame f;
  double xmin = 1e30, xmax = 0, ymin = 1e30, ymax = 0;
  for (const Point& p : points) {
    xmin = std::min(xmin, p.x);
    xmax = std::max(xmax, p.x);
    ymin = std::min(ymin, p.y);
    ymax = std::max(ymax, p.y);
  }
  for (const Roof& r : roofs) {
    ymax = std::max(ymax, r.gflop_s);
    if (bw > 0) xmax = std::max(xmax, r.gflop_s / bw);
  }
  if (points.empty()) xmin = 0.1, xmax = 100, ymin = 1, ymax = 100;
  f.x_lo = std::floor(std::log10(xmin)) - 0;
  f.x_hi = std::ceil(std::log10(xmax)) + 1;
  f.y_lo = std::floor(std::log10(ymin));
  f.y_hi = std::ceil(std::log10(ymax * 1.5));
  if (f.y_hi <= f.y_lo) f.y_hi = f.y_lo + 1;

  std::string s;
  s += str_printf("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
                  "font-size=\"11\">\n",
                  f.left + f.width + 200, f.top + f.height + 60);
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += str_printf("<text x=\"%.0f\" y=\"24\" font-size=\"14\">Roofline: %s on %s</text>\n", f.left,
                  xml_escape(info.name.empty() ? info.path : info.name).c_str(), xml_escape(profile.name).c_str());
  // Decade grid and tick labels.
  for (int e = static_cast<int>(f.x_lo); e <= static_cast<int>(f.x_hi); ++e) {
    const double x = f.px(std::pow(10.0, e));
    s += str_printf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, f.top, x, f.top + f.height);
    s += str_printf("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">1e%d</text>\n", x, f.top + f.height + 16, e);
  }
  for (int e = static_cast<int>(f.y_lo); e <= static_cast<int>(f.y_hi); ++e) {
    const double y = f.py(std::pow(10.0, e));
    s += str_printf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", f.left, y, f.left + f.width, y);
    s += str_printf("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n", f.left - 6, y + 4, e);
  }
  s += str_printf("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", f.left,
                  f.top, f.width, f.height);
  s += str_printf("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">arithmetic intensity (FLOP/byte)</text>\n",
                  f.left + f.width / 2, f.top + f.height + 36);
  s += str_printf("<text transform=\"translate(20 %.1f) rotate(-90)\" text-anchor=\"middle\">attainable GFLOP/s</text>\n",
                  f.top + f.height / 2);
  const double x_lo = std::pow(10.0, f.x_lo), x_hi = std::pow(10.0, f.x_hi);
  const double y_lo = std::pow(10.0, f.y_lo), y_hi = std::pow(10.0, f.y_hi);
  // Memory roof: GFLOP/s = bandwidth x intensity, clipped to the plot.
  if (bw > 0) {
    const double xa = std::max(x_lo, y_lo / bw), xb = std::min(x_hi, y_hi / bw);
    if (xa < xb) {
      s += str_printf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" stroke-width=\"2\"/>\n",
                      f.px(xa), f.py(bw * xa), f.px(xb), f.py(bw * xb));
      s += str_printf("<text x=\"%.1f\" y=\"%.1f\" fill=\"#333\">%.3g GB/s</text>\n", f.px(xa) + 4, f.py(bw * xa) - 6, bw);
    }
  }
  // The weight types' streaming roofs: thin lines under the general one.
  for (const auto& [kind, gb_s] : memory_roofs) {
    const double xa = std::max(x_lo, y_lo / gb_s), xb = std::min(x_hi, y_hi / gb_s);
    if (xa >= xb) continue;
    s += str_printf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" stroke-dasharray=\"2 2\"/>\n",
                    f.px(xa), f.py(gb_s * xa), f.px(xb), f.py(gb_s * xb));
    s += str_printf("<text x=\"%.1f\" y=\"%.1f\" fill=\"#888\" font-size=\"9\">%s GEMV %.3g GB/s</text>\n",
                    f.px(xb) + 4, f.py(gb_s * xb) + 10, xml_escape(kind).c_str(), gb_s);
  }
  // Compute roofs: from the ridge point to the right edge, labelled on the right (labels pushed
  // apart where roofs are close).
  std::sort(roofs.begin(), roofs.end(), [](const Roof& a, const Roof& b) { return a.gflop_s > b.gflop_s; });
  double last_label_y = -1e9;
  for (const Roof& r : roofs) {
    if (r.gflop_s <= 0) continue;
    const double xr = bw > 0 ? std::max(x_lo, r.gflop_s / bw) : x_lo;
    s += str_printf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-dasharray=\"5 3\"/>\n",
                    f.px(xr), f.py(r.gflop_s), f.px(x_hi), f.py(r.gflop_s), stage_color(r.stage));
    last_label_y = std::max(f.py(r.gflop_s) + 4, last_label_y + 12);
    s += str_printf("<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s %.3g GFLOP/s</text>\n", f.left + f.width + 6,
                    last_label_y, stage_color(r.stage), xml_escape(r.label).c_str(), r.gflop_s);
  }
  for (const Point& p : points) {
    s += str_printf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>%s %s: %.3g FLOP/B, %.3g GFLOP/s</title>"
                    "</circle>\n",
                    f.px(p.x), f.py(p.y), stage_color(p.stage), stage_name(p.stage), xml_escape(p.label).c_str(), p.x,
                    p.y);
    s += str_printf("<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"%s\">%s</text>\n", f.px(p.x) + 5, f.py(p.y) - 4,
                    stage_color(p.stage), xml_escape(p.label).c_str());
  }
  // Legend.
  double ly = f.top + 8;
  for (const StageCost& st : stages) {
    s += str_printf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", f.left + 12, ly, stage_color(st.request.stage));
    s += str_printf("<text x=\"%.1f\" y=\"%.1f\">%s %lld tokens: %.3g tok/s</text>\n", f.left + 22, ly + 4,
                    stage_name(st.request.stage), static_cast<long long>(st.request.n_tokens), st.tokens_per_s);
    ly += 16;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace mnemo
