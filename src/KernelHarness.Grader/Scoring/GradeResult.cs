using System;
using System.Collections.Generic;
using KernelHarness.Grader.Assignments;
using KernelHarness.Grader.Build;
using KernelHarness.Grader.IlCheck;
using KernelHarness.Grader.Runner;

namespace KernelHarness.Grader.Scoring;

/// <summary>How grading ended.</summary>
public enum GradeStatus
{
    /// <summary>Built, accepted, tests run and scored.</summary>
    Graded,
    /// <summary>The submission did not compile (score 0).</summary>
    BuildFailed,
    /// <summary>The IL check refused it (score 0, every forbidden use listed).</summary>
    Refused,
    /// <summary>The grader itself failed (score 0, the reason recorded).</summary>
    Fault,
}

/// <summary>A scored test.</summary>
public sealed class GradedTest
{
    public required string Id { get; init; }
    public required string Group { get; init; }
    public required string Subsystem { get; init; }
    public required Visibility Visibility { get; init; }
    public required double Score { get; set; }
    public required double MaxScore { get; init; }
    public required bool Passed { get; init; }
    public required OutcomeDto Outcome { get; init; }
    public required string Output { get; set; }
    public string ReplayCommand { get; init; } = "";
    /// <summary>Student/reference ratios of a performance test, by metric.</summary>
    public SortedDictionary<string, double> Ratios { get; } = new(StringComparer.Ordinal);
}

/// <summary>An analyzer finding and what it cost.</summary>
public sealed record ScoredFinding(Finding Finding, string Severity, double Penalty);

/// <summary>A leaderboard figure (Gradescope's leaderboard entry).</summary>
public sealed record LeaderboardEntry(string Name, double Value, string Order);

/// <summary>Everything the outputs need about one graded submission.</summary>
public sealed class GradeResult
{
    public required string Submission { get; init; }
    public required Assignment Assignment { get; init; }
    public GradeStatus Status { get; set; } = GradeStatus.Graded;
    public string? Reason { get; set; }
    public double Score { get; set; }
    public double MaxScore { get; set; }
    public List<GradedTest> Tests { get; } = new();
    public List<ScoredFinding> Findings { get; } = new();
    public double AnalyzerPenalty { get; set; }
    public double AnalyzerPenaltyUncapped { get; set; }
    public List<IlViolation> Violations { get; } = new();
    public List<LeaderboardEntry> Leaderboard { get; } = new();
    public SortedDictionary<string, (double Score, double Max)> Groups { get; } = new(StringComparer.Ordinal);
    public List<string> Notes { get; } = new();
    public string Sandbox { get; set; } = "";
    public string? SarifPath { get; set; }
    public IReadOnlyList<Finding> CompilerDiagnostics { get; set; } = Array.Empty<Finding>();
    /// <summary>Timing (the only fields that differ between two gradings of the same submission).</summary>
    public TimeSpan ExecutionTime { get; set; }
    public TimeSpan BuildTime { get; set; }
}
