using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using KernelHarness.Grader.Assignments;
using KernelHarness.Grader.Scoring;

namespace KernelHarness.Grader.Outputs;

/// <summary>Writes every output of grading.md for one graded submission.</summary>
public static class OutputWriter
{
    public static readonly JsonSerializerOptions Pretty = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void WriteAll(GradeResult grade, string outDir, bool classroom, bool github)
    {
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "results.json"), ResultsJson(grade).ToJsonString(Pretty) + "\n");
        Junit(grade).Save(Path.Combine(outDir, "junit.xml"));
        var report = Report(grade);
        File.WriteAllText(Path.Combine(outDir, "report.md"), report);
        WriteSarif(grade, Path.Combine(outDir, "diagnostics.sarif"));
        if (classroom)
            GitHubOutputs.WriteClassroom(grade, outDir);
        if (github)
            GitHubOutputs.Write(grade, report, Console.Out);
    }

    /// <summary>Whether a test's details may be shown where students read them (report.md, junit, annotations).</summary>
    public static bool Detailed(GradedTest t) => t.Visibility == Visibility.Visible;

    /// <summary>Gradescope's results.json. Only <c>execution_time</c> depends on timing.</summary>
    public static JsonObject ResultsJson(GradeResult g)
    {
        var tests = new JsonArray();
        foreach (var t in g.Tests)
        {
            tests.Add(new JsonObject
            {
                ["name"] = t.Id,
                ["score"] = t.Score,
                ["max_score"] = t.MaxScore,
                ["status"] = t.Passed ? "passed" : "failed",
                ["output"] = t.Output,
                ["output_format"] = "text",
                ["visibility"] = Assignment.VisibilityName(t.Visibility),
                ["tags"] = new JsonArray(t.Group, t.Subsystem),
            });
        }
        if (g.Status == GradeStatus.Refused)
        {
            tests.Add(new JsonObject
            {
                ["name"] = "IL check: APIs a submission may not use (KH9001)",
                ["score"] = 0,
                ["max_score"] = g.MaxScore,
                ["status"] = "failed",
                ["output"] = string.Join("\n", g.Violations.Select(v => v.ToString())),
                ["output_format"] = "text",
                ["visibility"] = "visible",
                ["tags"] = new JsonArray("il-check"),
            });
        }
        if (g.Status is GradeStatus.BuildFailed or GradeStatus.Fault)
        {
            tests.Add(new JsonObject
            {
                ["name"] = g.Status == GradeStatus.BuildFailed ? "Build" : "Grader",
                ["score"] = 0,
                ["max_score"] = g.MaxScore,
                ["status"] = "failed",
                ["output"] = g.Reason ?? "",
                ["output_format"] = "text",
                ["visibility"] = "visible",
                ["tags"] = new JsonArray(g.Status == GradeStatus.BuildFailed ? "build" : "grader"),
            });
        }
        if (g.Findings.Count > 0)
        {
            tests.Add(new JsonObject
            {
                ["name"] = "Analyzer findings" + (double.IsInfinity(g.Assignment.AnalyzerMaxPenalty) ? "" : $" (penalty capped at {Scorer.Fmt(g.Assignment.AnalyzerMaxPenalty)})"),
                ["score"] = -g.AnalyzerPenalty,
                ["max_score"] = 0,
                ["status"] = g.AnalyzerPenalty > 0 ? "failed" : "passed",
                ["output"] = string.Join("\n", g.Findings.Select(f => $"{f.Finding.Location}: {f.Severity} {f.Finding.RuleId}: {f.Finding.Message} (-{Scorer.Fmt(f.Penalty)})")),
                ["output_format"] = "text",
                ["visibility"] = "visible",
                ["tags"] = new JsonArray("analyzers"),
            });
        }
        var leaderboard = new JsonArray();
        foreach (var e in g.Leaderboard)
            leaderboard.Add(new JsonObject { ["name"] = e.Name, ["value"] = e.Value, ["order"] = e.Order });
        return new JsonObject
        {
            ["score"] = g.Score,
            ["execution_time"] = Math.Round(g.ExecutionTime.TotalSeconds, 1),
            ["output"] = Summary(g),
            ["output_format"] = "md",
            ["test_output_format"] = "text",
            ["visibility"] = Assignment.VisibilityName(g.Assignment.ResultVisibility),
            ["stdout_visibility"] = Assignment.VisibilityName(g.Assignment.StdoutVisibility),
            ["tests"] = tests,
            ["leaderboard"] = leaderboard,
            ["extra_data"] = new JsonObject
            {
                ["kh_status"] = g.Status.ToString(),
                ["assignment"] = g.Assignment.Id,
                ["submission"] = g.Submission,
                ["max_score"] = g.MaxScore,
                ["analyzer_penalty"] = g.AnalyzerPenalty,
                ["groups"] = new JsonObject(g.Groups.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonObject { ["score"] = kv.Value.Score, ["max_score"] = kv.Value.Max }))),
            },
        };
    }

    private static string Summary(GradeResult g)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"**{g.Assignment.Title}**: {Scorer.Fmt(g.Score)} / {Scorer.Fmt(g.MaxScore)}\n\n");
        if (g.Reason is not null)
            sb.Append(g.Reason).Append("\n\n");
        foreach (var (name, (score, max)) in g.Groups)
            sb.Append(CultureInfo.InvariantCulture, $"- {name}: {Scorer.Fmt(score)} / {Scorer.Fmt(max)}\n");
        if (g.Findings.Count > 0)
            sb.Append(CultureInfo.InvariantCulture, $"- analyzer findings: {g.Findings.Count} (-{Scorer.Fmt(g.AnalyzerPenalty)})\n");
        foreach (var n in g.Notes)
            sb.Append("\n> ").Append(n);
        return sb.ToString().TrimEnd() + "\n";
    }

    /// <summary>junit.xml: one testsuite per group, one testcase per test.</summary>
    public static XDocument Junit(GradeResult g)
    {
        var suites = new XElement("testsuites",
            new XAttribute("name", g.Assignment.Id + ":" + g.Submission),
            new XAttribute("tests", g.Tests.Count),
            new XAttribute("failures", g.Tests.Count(t => !t.Passed)),
            new XAttribute("time", g.ExecutionTime.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)));
        foreach (var group in g.Tests.GroupBy(t => t.Group))
        {
            var suite = new XElement("testsuite",
                new XAttribute("name", group.Key),
                new XAttribute("tests", group.Count()),
                new XAttribute("failures", group.Count(t => !t.Passed)),
                new XAttribute("errors", 0),
                new XAttribute("skipped", 0),
                new XAttribute("time", group.Sum(t => t.Outcome.DurationMs / 1000).ToString("0.###", CultureInfo.InvariantCulture)));
            foreach (var t in group)
            {
                var tc = new XElement("testcase",
                    new XAttribute("classname", $"{g.Assignment.Id}.{t.Group}"),
                    new XAttribute("name", t.Id),
                    new XAttribute("time", (t.Outcome.DurationMs / 1000).ToString("0.###", CultureInfo.InvariantCulture)));
                if (!t.Passed)
                {
                    tc.Add(Detailed(t)
                        ? new XElement("failure", new XAttribute("message", Clean(t.Outcome.Message)), new XAttribute("type", t.Outcome.Status), Clean(t.Output))
                        : new XElement("failure", new XAttribute("message", "A hidden test failed."), new XAttribute("type", "hidden")));
                }
                suite.Add(tc);
            }
            suites.Add(suite);
        }
        if (g.Status != GradeStatus.Graded)
        {
            var text = g.Status == GradeStatus.Refused ? string.Join("\n", g.Violations.Select(v => v.ToString())) : g.Reason ?? "";
            suites.Add(new XElement("testsuite", new XAttribute("name", g.Status.ToString()), new XAttribute("tests", 1), new XAttribute("failures", 1),
                new XElement("testcase", new XAttribute("classname", g.Assignment.Id), new XAttribute("name", g.Status.ToString()),
                    new XElement("failure", new XAttribute("message", Clean(g.Reason ?? g.Status.ToString())), Clean(text)))));
        }
        return new XDocument(new XDeclaration("1.0", "utf-8", null), suites);
    }

    /// <summary>XML 1.0 cannot hold most control characters: a student's message may contain them.</summary>
    private static string Clean(string s) => new(s.Where(c => c is '\n' or '\r' or '\t' || (c >= 0x20 && !char.IsSurrogate(c) && c != '\uFFFE' && c != '\uFFFF')).ToArray());

    /// <summary>report.md: score table, failed tests with their reproduction command, analyzer findings with file:line.</summary>
    public static string Report(GradeResult g)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# {g.Assignment.Title} — {g.Submission}\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"**Score: {Scorer.Fmt(g.Score)} / {Scorer.Fmt(g.MaxScore)}**");
        sb.Append(g.Status switch
        {
            GradeStatus.BuildFailed => " — the submission did not build.",
            GradeStatus.Refused => " — the submission was refused by the IL check and not run.",
            GradeStatus.Fault => " — the grader could not grade it.",
            _ => "",
        }).Append("\n\n");
        if (g.Reason is not null && g.Status != GradeStatus.Graded)
            sb.Append("```\n").Append(g.Reason.TrimEnd()).Append("\n```\n\n");
        if (g.Groups.Count > 0)
        {
            sb.Append("| Group | Passed | Score | Max |\n|---|---:|---:|---:|\n");
            foreach (var (name, (score, max)) in g.Groups)
            {
                var tests = g.Tests.Where(t => t.Group == name).ToList();
                sb.Append(CultureInfo.InvariantCulture, $"| {name} | {tests.Count(t => t.Passed)}/{tests.Count} | {Scorer.Fmt(score)} | {Scorer.Fmt(max)} |\n");
            }
            if (g.Findings.Count > 0)
                sb.Append(CultureInfo.InvariantCulture, $"| analyzer penalty | {g.Findings.Count} finding(s) | -{Scorer.Fmt(g.AnalyzerPenalty)} | |\n");
            sb.Append(CultureInfo.InvariantCulture, $"| **total** | | **{Scorer.Fmt(g.Score)}** | **{Scorer.Fmt(g.MaxScore)}** |\n\n");
        }
        if (g.Violations.Count > 0)
        {
            sb.Append("## Forbidden API uses (KH9001)\n\n");
            foreach (var v in g.Violations)
                sb.Append("- `").Append(v.Location).Append("`: `").Append(v.Api).Append("` — ").Append(v.Rule).Append('\n');
            sb.Append('\n');
        }
        var failed = g.Tests.Where(t => !t.Passed).ToList();
        if (failed.Count > 0)
        {
            sb.Append("## Failed tests\n\n");
            foreach (var t in failed)
            {
                if (!Detailed(t))
                {
                    sb.Append(CultureInfo.InvariantCulture, $"### {t.Id} ({t.Group}, hidden)\n\nA hidden test failed; its details are not shown.\n\n");
                    continue;
                }
                sb.Append(CultureInfo.InvariantCulture, $"### {t.Id}\n\n");
                sb.Append("Reproduce: `").Append(t.ReplayCommand).Append("`\n\n```\n").Append(t.Output.TrimEnd()).Append("\n```\n\n");
            }
        }
        if (g.Findings.Count > 0)
        {
            sb.Append("## Analyzer findings\n\n| Location | Rule | Severity | Penalty | Message |\n|---|---|---|---:|---|\n");
            foreach (var f in g.Findings)
                sb.Append(CultureInfo.InvariantCulture, $"| `{f.Finding.Location}` | {f.Finding.RuleId} | {f.Severity} | {Scorer.Fmt(f.Penalty)} | {f.Finding.Message.Replace("|", "\\|", StringComparison.Ordinal)} |\n");
            if (g.AnalyzerPenaltyUncapped > g.AnalyzerPenalty)
                sb.Append(CultureInfo.InvariantCulture, $"\nPenalty {Scorer.Fmt(g.AnalyzerPenaltyUncapped)} capped at {Scorer.Fmt(g.AnalyzerPenalty)}.\n");
            sb.Append('\n');
        }
        if (g.Leaderboard.Count > 0)
        {
            sb.Append("## Performance (ratio to the reference, measured in the same process)\n\n");
            foreach (var e in g.Leaderboard)
                sb.Append(CultureInfo.InvariantCulture, $"- {e.Name}: {e.Value:0.###}\n");
            sb.Append('\n');
        }
        if (g.Notes.Count > 0)
        {
            sb.Append("## Notes\n\n");
            foreach (var n in g.Notes)
                sb.Append("- ").Append(n).Append('\n');
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>diagnostics.sarif: the compiler's own SARIF 2.1 log, or an empty valid log when the build did not get that far.</summary>
    public static void WriteSarif(GradeResult g, string path)
    {
        if (g.SarifPath is not null && File.Exists(g.SarifPath))
        {
            File.Copy(g.SarifPath, path, overwrite: true);
            return;
        }
        var empty = new JsonObject
        {
            ["$schema"] = "http://json.schemastore.org/sarif-2.1.0",
            ["version"] = "2.1.0",
            ["runs"] = new JsonArray(new JsonObject
            {
                ["tool"] = new JsonObject { ["driver"] = new JsonObject { ["name"] = "kh", ["informationUri"] = "https://github.com/kernelharness/kernelharness" } },
                ["results"] = new JsonArray(),
            }),
        };
        File.WriteAllText(path, empty.ToJsonString(Pretty) + "\n");
    }
}
