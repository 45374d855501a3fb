// flowgrad: tools around trained flow checkpoints (samples, interpolations, multi-scale latents,
// the learned dequantization distribution), training-curve plots, and the build's self-check.
// Exit status: 0 ok, 2 bad command line, 1 runtime error (one line on stderr).
#include <cstdio>
#include <string>

#include "apps/flowgrad/common.h"

using namespace fg::app::cmd;

namespace {

std::string one_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  std::string o;
  for (char c : s) o += c == '\n' ? std::string("; ") : std::string(1, c);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flowgrad: samples, interpolations, multi-scale latents and dequantization histograms from "
               "flow checkpoints;\ntraining-curve plots; the build's self-check. "
               "Run 'flowgrad SUBCOMMAND --help' for a subcommand's options."};
  app.set_help_flag("-h,--help", "print this help and exit");
  app.require_subcommand(1, 1);
  std::vector<Command> cmds = {add_sample_command(app),       add_interpolate_command(app),
                               add_latents_command(app),      add_dequant_hist_command(app),
                               add_plot_command(app),         add_info_command(app)};
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (auto& c : cmds) {
      known = known || c.app->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + c.app->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "flowgrad: unknown subcommand '%s' (expected one of %s; see flowgrad --help)\n", argv[1],
                   names.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string sub;
    for (auto& c : cmds)
      if (c.app->parsed()) sub = " " + c.app->get_name();
    std::fprintf(stderr, "flowgrad%s: %s (see flowgrad%s --help)\n", sub.c_str(), one_line(e.what()).c_str(),
                 sub.c_str());
    return 2;
  }
  for (auto& c : cmds) {
    if (!c.app->parsed()) continue;
    std::string prog = "flowgrad " + c.app->get_name();
    try {
      return c.run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: error: %s\n", prog.c_str(), one_line(e.what()).c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "flowgrad: no subcommand given (see flowgrad --help)\n");
  return 2;
}
