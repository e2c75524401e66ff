using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using KernelHarness.Conformance;
using KernelHarness.Grader.Assignments;
using KernelHarness.Grader.Build;
using KernelHarness.Grader.Execution;
using KernelHarness.Grader.Runner;

namespace KernelHarness.Grader.Scoring;

/// <summary>
/// The score, computed by the parent alone from the authenticated test results, the SARIF findings
/// and the assignment: each group's points split evenly among its tests; performance tests scaled by
/// the student/reference ratios measured in the same child; analyzer penalties per finding, capped.
/// </summary>
public static class Scorer
{
    public static void ScoreTests(GradeResult grade, IReadOnlyList<TestRunResult> runs, Func<OutcomeDto, string> replay)
    {
        var a = grade.Assignment;
        var student = runs.Where(r => !r.Test.Reference).ToList();
        var reference = runs.Where(r => r.Test.Reference).ToDictionary(r => r.Test.Id, r => r.Outcome, StringComparer.Ordinal);
        var metricSums = new SortedDictionary<string, (double Sum, int Count)>(StringComparer.Ordinal);

        foreach (var group in a.Groups)
        {
            var tests = student.Where(r => r.Test.Group == group.Name).ToList();
            if (tests.Count == 0)
            {
                grade.Notes.Add($"Group '{group.Name}' has no tests for this assignment's subsystems; its {Fmt(group.Points)} points are not counted.");
                continue;
            }
            double per = group.Points / tests.Count;
            double groupScore = 0;
            foreach (var run in tests)
            {
                var o = run.Outcome;
                bool passed = o.Status == nameof(TestStatus.Passed);
                var graded = new GradedTest
                {
                    Id = o.Id.Length > 0 ? o.Id : run.Test.Id,
                    Group = group.Name,
                    Subsystem = run.Test.Subsystem,
                    Visibility = group.Visibility,
                    Score = passed ? per : 0,
                    MaxScore = per,
                    Passed = passed,
                    Outcome = o,
                    Output = "",
                    ReplayCommand = replay(o),
                };
                if (passed && a.PerformanceGroups.Contains(group.Name) && a.PerformanceMetrics.Count > 0)
                    graded.Score = per * PerformanceFactor(a, o, reference.GetValueOrDefault(run.Test.Id), graded, grade.Notes);
                foreach (var (metric, ratio) in graded.Ratios)
                {
                    var (sum, count) = metricSums.GetValueOrDefault(metric);
                    metricSums[metric] = (sum + ratio, count + 1);
                }
                graded.Output = Render(graded);
                groupScore += graded.Score;
                grade.Tests.Add(graded);
            }
            grade.Groups[group.Name] = (Round(groupScore), Round(group.Points));
            foreach (var t in grade.Tests.Where(t => t.Group == group.Name))
                t.Score = Math.Round(t.Score, 4, MidpointRounding.AwayFromZero);
        }
        foreach (var (metric, (sum, count)) in metricSums)
            grade.Leaderboard.Add(new LeaderboardEntry(metric + " (vs reference)", Math.Round(sum / count, 3), "desc"));
    }

    /// <summary>Weighted mean over the assignment's metrics of min(ratio, cap)/cap, ratio = student/reference (inverted when lower is better).</summary>
    private static double PerformanceFactor(Assignment a, OutcomeDto student, OutcomeDto? reference, GradedTest graded, List<string> notes)
    {
        if (reference is null || reference.Status != nameof(TestStatus.Passed))
        {
            notes.Add($"{student.Id}: the reference run did not pass here, so performance is not scored for this test.");
            return 1;
        }
        double weights = 0, total = 0;
        foreach (var m in a.PerformanceMetrics)
        {
            if (!student.Metrics.TryGetValue(m.Name, out var s) || !reference.Metrics.TryGetValue(m.Name, out var r))
                continue;
            double ratio = m.LowerIsBetter ? (s <= 0 ? m.Cap : r / s) : (r <= 0 ? m.Cap : s / r);
            if (double.IsNaN(ratio) || ratio < 0)
                ratio = 0;
            ratio = Math.Round(ratio, 3);
            graded.Ratios[m.Name] = ratio;
            total += m.Weight * Math.Min(ratio, m.Cap) / m.Cap;
            weights += m.Weight;
        }
        return weights == 0 ? 1 : total / weights;
    }

    public static void ScoreFindings(GradeResult grade, IReadOnlyList<Finding> diagnostics)
    {
        var a = grade.Assignment;
        double total = 0;
        foreach (var d in diagnostics)
        {
            var rule = a.Rule(d.RuleId);
            if (rule is null || rule.Severity == "none")
                continue;
            grade.Findings.Add(new ScoredFinding(d, rule.Severity, rule.Penalty));
            total += rule.Penalty;
        }
        grade.AnalyzerPenaltyUncapped = total;
        grade.AnalyzerPenalty = Math.Min(total, a.AnalyzerMaxPenalty);
    }

    public static void Total(GradeResult grade)
    {
        grade.MaxScore = Round(grade.Groups.Values.Sum(g => g.Max));
        if (grade.Groups.Count == 0)
            grade.MaxScore = Round(grade.Assignment.Groups.Sum(g => g.Points));
        if (grade.Status != GradeStatus.Graded)
        {
            grade.Score = 0;
            return;
        }
        grade.Score = Round(Math.Max(0, Math.Min(grade.MaxScore, grade.Groups.Values.Sum(g => g.Score)) - grade.AnalyzerPenalty));
    }

    /// <summary>A test's output: the conformance framework's own rendering, the kernel log, the reproduction command.</summary>
    public static string Render(GradedTest t)
    {
        var o = t.Outcome;
        var outcome = ToOutcome(o);
        var sb = new StringBuilder();
        foreach (var line in outcome.Render().Split('\n'))
        {
            if (line.TrimStart().StartsWith("Replay:", StringComparison.Ordinal))
                sb.Append("  Replay:   ").Append(t.ReplayCommand).Append('\n');
            else if (line.Length > 0)
                sb.Append(line).Append('\n');
        }
        if (!t.Passed && o.KernelLog.Count > 0)
        {
            sb.Append("  Kernel log (last lines):\n");
            foreach (var l in o.KernelLog.TakeLast(15))
                sb.Append("    ").Append(l).Append('\n');
        }
        if (t.Ratios.Count > 0)
        {
            sb.Append("  Performance vs the reference (same process):");
            foreach (var (m, r) in t.Ratios)
                sb.Append(CultureInfo.InvariantCulture, $" {m} {r:0.###}");
            sb.Append('\n');
        }
        return sb.ToString();
    }

    public static TestOutcome ToOutcome(OutcomeDto o) => new()
    {
        Id = o.Id,
        Subsystem = o.Subsystem,
        Group = o.Group,
        Name = o.Name,
        Linux = o.Linux,
        Seed = o.Seed,
        Status = Enum.TryParse<TestStatus>(o.Status, out var s) ? s : TestStatus.Errored,
        Message = o.Message,
        Expected = o.Expected,
        Actual = o.Actual,
        Reports = o.Reports,
        KernelLog = o.KernelLog,
        Steps = o.Steps,
        Metrics = o.Metrics,
        Duration = TimeSpan.FromMilliseconds(o.DurationMs),
    };

    public static double Round(double d) => Math.Round(d, 2, MidpointRounding.AwayFromZero);

    public static string Fmt(double d) => d.ToString("0.##", CultureInfo.InvariantCulture);
}
