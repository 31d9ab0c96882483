// Hardware profiles (include/mnemo/hw_profile.h): roof lookups, JSON round trip and errors, the
// built-in devices, and a small measurement of this machine's kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "mnemo/hw_profile.h"
#include "test_util.h"

namespace mnemo {
namespace {

HardwareProfile sample() {
  HardwareProfile p;
  p.name = "sample";
  p.source = "hand-made";
  p.notes = "for \"tests\"";
  p.bandwidth = {{1, 10.0, ""}, {2, 16.0, ""}, {4, 20.0, ""}, {1, 6.0, "q4_0"}, {2, 9.0, "q4_0"}};
  p.compute = {{"q4_0", 1, 1, 10.0}, {"q4_0", 100, 1, 1000.0}, {"q4_0", 1, 2, 20.0}, {"q4_0", 100, 2, 2000.0},
               {"attention", 1, 1, 5.0}};
  return p;
}

TEST(HardwareProfile, BandwidthByThreads) {
  const HardwareProfile p = sample();
  EXPECT_DOUBLE_EQ(*p.bandwidth_gb_s(1), 10.0);
  EXPECT_DOUBLE_EQ(*p.bandwidth_gb_s(2), 16.0);
  EXPECT_DOUBLE_EQ(*p.bandwidth_gb_s(3), 18.0);  // between 2 and 4
  EXPECT_DOUBLE_EQ(*p.bandwidth_gb_s(64), 20.0); // the highest measured count
  // A weight type's own streaming roof, where the profile has one; the general one otherwise.
  EXPECT_DOUBLE_EQ(*p.bandwidth_gb_s(2, "q4_0"), 9.0);
  EXPECT_DOUBLE_EQ(*p.bandwidth_gb_s(4, "q4_0"), 9.0);
  EXPECT_DOUBLE_EQ(*p.bandwidth_gb_s(2, "f16"), 16.0);
  HardwareProfile none;
  EXPECT_FALSE(none.bandwidth_gb_s(1).has_value());
  HardwareProfile device;
  device.bandwidth = {{0, 2039.0}};
  EXPECT_DOUBLE_EQ(*device.bandwidth_gb_s(7), 2039.0);
}

TEST(HardwareProfile, ComputeByKindBatchAndThreads) {
  const HardwareProfile p = sample();
  EXPECT_DOUBLE_EQ(*p.compute_gflop_s("q4_0", 1, 1), 10.0);
  EXPECT_DOUBLE_EQ(*p.compute_gflop_s("q4_0", 100, 2), 2000.0);
  EXPECT_NEAR(*p.compute_gflop_s("q4_0", 10, 1), 505.0, 1e-9);  // halfway in log(batch)
  EXPECT_DOUBLE_EQ(*p.compute_gflop_s("q4_0", 5000, 1), 1000.0);  // clamped
  EXPECT_DOUBLE_EQ(*p.compute_gflop_s("q4_0", 1, 8), 20.0);       // highest thread count
  EXPECT_DOUBLE_EQ(*p.compute_gflop_s("attention", 512, 2), 5.0);
  Expected<double> missing = p.compute_gflop_s("f16", 1, 1);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.status().message().find("'f16'"), std::string::npos) << missing.status().message();
  HardwareProfile any = p;
  any.compute.push_back({"*", 1, 0, 77.0});
  EXPECT_DOUBLE_EQ(*any.compute_gflop_s("f16", 1, 1), 77.0);
}

TEST(HardwareProfile, JsonRoundTrip) {
  const HardwareProfile p = sample();
  Expected<HardwareProfile> back = hardware_profile_from_json(hardware_profile_to_json(p), "mem");
  ASSERT_TRUE(back.has_value()) << back.status().message();
  EXPECT_EQ(back->name, p.name);
  EXPECT_EQ(back->source, p.source);
  EXPECT_EQ(back->notes, p.notes);
  ASSERT_EQ(back->bandwidth.size(), p.bandwidth.size());
  for (size_t i = 0; i < p.bandwidth.size(); ++i) {
    EXPECT_EQ(back->bandwidth[i].threads, p.bandwidth[i].threads);
    EXPECT_EQ(back->bandwidth[i].kind, p.bandwidth[i].kind);
    EXPECT_EQ(back->bandwidth[i].gb_s, p.bandwidth[i].gb_s);
  }
  ASSERT_EQ(back->compute.size(), p.compute.size());
  for (size_t i = 0; i < p.compute.size(); ++i) {
    EXPECT_EQ(back->compute[i].kind, p.compute[i].kind);
    EXPECT_EQ(back->compute[i].batch, p.compute[i].batch);
    EXPECT_EQ(back->compute[i].threads, p.compute[i].threads);
    EXPECT_EQ(back->compute[i].gflop_s, p.compute[i].gflop_s);
  }
  // Through a file, written atomically.
  const std::string path = test::temp_dir() + "/profile.json";
  ASSERT_TRUE(save_hardware_profile(p, path).is_ok());
  Expected<HardwareProfile> loaded = load_hardware_profile(path);
  ASSERT_TRUE(loaded.has_value()) << loaded.status().message();
  EXPECT_EQ(hardware_profile_to_json(*loaded), hardware_profile_to_json(p));
}

TEST(HardwareProfile, MalformedJsonNamesTheField) {
  const std::string good = hardware_profile_to_json(sample());
  auto error_of = [](const std::string& text) {
    Expected<HardwareProfile> p = hardware_profile_from_json(text, "p.json");
    EXPECT_FALSE(p.has_value()) << text;
    return p.has_value() ? std::string() : p.status().message();
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  EXPECT_NE(error_of("{ not json").find("p.json: expected a JSON hardware profile"), std::string::npos);
  EXPECT_NE(error_of("[1, 2]").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(error_of(replaced("mnemo-hardware-profile", "other")).find("format"), std::string::npos);
  EXPECT_NE(error_of(replaced("\"version\": 1", "\"version\": 7")).find("version"), std::string::npos);
  EXPECT_NE(error_of(replaced("\"name\": \"sample\"", "\"name\": \"\"")).find("name"), std::string::npos);
  EXPECT_NE(error_of(replaced("\"name\": \"sample\"", "\"name\": 3")).find("name: expected a string"),
            std::string::npos);
  EXPECT_NE(error_of(replaced("\"gb_s\": 10.0", "\"gb_s\": -10.0")).find("p.json: bandwidth[0].gb_s: expected a positive"),
            std::string::npos);
  EXPECT_NE(error_of(replaced("\"threads\": 1", "\"threads\": \"one\"")).find("bandwidth[0].threads"),
            std::string::npos);
  EXPECT_NE(error_of(replaced("\"gflop_s\": 10.0", "\"gflop_s\": \"fast\"")).find("compute[0].gflop_s"),
            std::string::npos);
  EXPECT_NE(error_of(replaced("\"batch\": 1", "\"batch\": 0")).find("compute[0].batch: expected an integer >= 1"),
            std::string::npos);
  EXPECT_NE(error_of(replaced("\"kind\": \"q4_0\",\n      \"batch\"", "\"kind\": \"\",\n      \"batch\""))
                .find("compute[0].kind"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"format": "mnemo-hardware-profile", "version": 1, "name": "x", "bandwidth": [],
                        "compute": [{"kind": "*", "batch": 1, "threads": 0, "gflop_s": 1}]})")
                .find("bandwidth: expected a non-empty array"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"format": "mnemo-hardware-profile", "version": 1, "name": "x",
                        "bandwidth": [{"threads": 0, "gb_s": 1}]})")
                .find("compute: expected a non-empty array, found nothing"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"format": "mnemo-hardware-profile", "version": 1, "name": "x",
                        "bandwidth": [{"kind": "q4_0", "threads": 1, "gb_s": 1}],
                        "compute": [{"kind": "*", "batch": 1, "threads": 0, "gflop_s": 1}]})")
                .find("bandwidth: expected a figure without a kind"),
            std::string::npos);
  EXPECT_NE(error_of(replaced("\"kind\": \"q4_0\",\n      \"threads\": 1", "\"kind\": 5,\n      \"threads\": 1"))
                .find("bandwidth[3].kind: expected a string"),
            std::string::npos);
  Expected<HardwareProfile> absent = load_hardware_profile("/nonexistent/profile.json");
  ASSERT_FALSE(absent.has_value());
  EXPECT_EQ(absent.status().code(), StatusCode::kNotFound);
}

TEST(HardwareProfile, BuiltinDevices) {
  ASSERT_GE(builtin_hardware_profiles().size(), 2u);
  Expected<HardwareProfile> a100 = resolve_hardware_profile("a100-80gb");
  ASSERT_TRUE(a100.has_value());
  EXPECT_DOUBLE_EQ(*a100->bandwidth_gb_s(1), 2039.0);
  EXPECT_DOUBLE_EQ(*a100->compute_gflop_s("f16", 512, 1), 312000.0);
  Expected<HardwareProfile> pim = resolve_hardware_profile("pim-gpt");
  ASSERT_TRUE(pim.has_value());
  EXPECT_NE(pim->notes.find("[recalled"), std::string::npos);
  for (const HardwareProfile& p : builtin_hardware_profiles()) {
    Expected<HardwareProfile> back = hardware_profile_from_json(hardware_profile_to_json(p), p.name);
    EXPECT_TRUE(back.has_value()) << p.name << ": " << back.status().message();
  }
  Expected<HardwareProfile> unknown = resolve_hardware_profile("no-such-device");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.status().message().find("--hw"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("a100-80gb"), std::string::npos);
}

// A quick measurement: small rows, one thread, one pass. Only that the figures exist and are
// plausible numbers; speed is never asserted.
TEST(HardwareProfile, MeasureComputeSmall) {
  ComputeOptions o;
  o.types = {"q4_0", "f16"};
  o.batches = {1, 16};
  o.threads = {1};
  o.n = 256;
  o.repetitions = 1;
  Expected<std::vector<ComputeFigure>> figures = measure_compute(o);
  ASSERT_TRUE(figures.has_value()) << figures.status().message();
  ASSERT_EQ(figures->size(), 2u * 2u + 3u);  // types x batches, attention x 2, vector
  for (const ComputeFigure& f : *figures) {
    EXPECT_TRUE(std::isfinite(f.gflop_s) && f.gflop_s > 0) << f.kind << " " << f.batch;
    EXPECT_EQ(f.threads, 1);
  }
  EXPECT_EQ((*figures)[0].kind, "q4_0");
  o.stream_bytes = 2 << 20;
  Expected<std::vector<BandwidthFigure>> streaming = measure_streaming(o);
  ASSERT_TRUE(streaming.has_value()) << streaming.status().message();
  ASSERT_EQ(streaming->size(), 2u);
  EXPECT_EQ((*streaming)[1].kind, "f16");
  EXPECT_TRUE(std::isfinite((*streaming)[1].gb_s) && (*streaming)[1].gb_s > 0);
  o.types = {"q9_9"};
  Expected<std::vector<ComputeFigure>> bad = measure_compute(o);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.status().message().find("q9_9"), std::string::npos);
  o.types = {"f32"};
  o.n = 100;
  EXPECT_FALSE(measure_compute(o).has_value());
}

}  // namespace
}  // namespace mnemo
