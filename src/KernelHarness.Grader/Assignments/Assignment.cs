using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace KernelHarness.Grader.Assignments;

/// <summary>Who sees a test's result (Gradescope's visibility levels).</summary>
public enum Visibility
{
    Visible,
    Hidden,
    AfterDueDate,
    AfterPublished,
}

/// <summary>A test group of an assignment: its points are split evenly among its tests.</summary>
public sealed record TestGroup(string Name, double Points, Visibility Visibility);

/// <summary>An analyzer rule's scoring: severity shown, points per finding.</summary>
public sealed record AnalyzerRule(string Id, string Severity, double Penalty);

/// <summary>A performance metric: its weight, its direction and the ratio cap.</summary>
public sealed record PerformanceMetric(string Name, double Weight, bool LowerIsBetter, double Cap);

/// <summary>Time and memory limits of a grading run.</summary>
public sealed record Limits(double TestTimeoutSeconds, double RunTimeoutSeconds, int MemoryMb);

/// <summary>An assignment: what the student implements and how it is graded (docs/assignments.md).</summary>
public sealed class Assignment
{
    public required string Directory { get; init; }
    public required string File { get; init; }
    public required string Id { get; init; }
    public required string Title { get; init; }
    public string Description { get; init; } = "";
    public required IReadOnlyList<string> Subsystems { get; init; }
    public required IReadOnlyList<string> Sources { get; init; }
    public required IReadOnlyList<TestGroup> Groups { get; init; }
    /// <summary>The cap on the total analyzer penalty (infinity: no cap).</summary>
    public double AnalyzerMaxPenalty { get; init; } = double.PositiveInfinity;
    public IReadOnlyList<AnalyzerRule> AnalyzerRules { get; init; } = Array.Empty<AnalyzerRule>();
    public IReadOnlyList<PerformanceMetric> PerformanceMetrics { get; init; } = Array.Empty<PerformanceMetric>();
    /// <summary>The groups whose tests are also run against the reference to score performance ratios.</summary>
    public IReadOnlyList<string> PerformanceGroups { get; init; } = new[] { "performance" };
    public Limits Limits { get; init; } = new(20, 600, 768);
    /// <summary><c>default</c> or a path relative to the assignment folder.</summary>
    public string Allowlist { get; init; } = "default";
    public Visibility ResultVisibility { get; init; } = Visibility.Visible;
    public Visibility StdoutVisibility { get; init; } = Visibility.Hidden;

    /// <summary>The subsystems that have a conformance suite (everything but <c>driver</c>).</summary>
    public IEnumerable<string> GradedSubsystems => Subsystems; // "driver" has a suite too (src/KernelHarness.Conformance/Driver)

    public string HiddenDirectory => Path.Combine(Directory, "hidden");

    public IReadOnlyList<string> HiddenSources =>
        System.IO.Directory.Exists(HiddenDirectory)
            ? System.IO.Directory.GetFiles(HiddenDirectory, "*.cs", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal).ToList()
            : Array.Empty<string>();

    public TestGroup? Group(string name) => Groups.FirstOrDefault(g => g.Name == name);

    public AnalyzerRule? Rule(string id) => AnalyzerRules.FirstOrDefault(r => string.Equals(r.Id, id, StringComparison.OrdinalIgnoreCase));

    public static string VisibilityName(Visibility v) => v switch
    {
        Visibility.Visible => "visible",
        Visibility.Hidden => "hidden",
        Visibility.AfterDueDate => "after_due_date",
        _ => "after_published",
    };
}

/// <summary>A malformed assignment file: the file, the line and what is wrong.</summary>
public sealed class AssignmentException : Exception
{
    public AssignmentException(string file, long line, long column, string problem)
        : base($"{file}:{line}:{column}: {problem}")
    {
        FilePath = file;
        Line = line;
        Column = column;
        Problem = problem;
    }

    public string FilePath { get; }
    public long Line { get; }
    public long Column { get; }
    public string Problem { get; }
}
