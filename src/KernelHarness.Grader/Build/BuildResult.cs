using System;
using System.Collections.Generic;

namespace KernelHarness.Grader.Build;

/// <summary>A compiler or analyzer diagnostic, from the SARIF log.</summary>
public sealed record Finding(string RuleId, string Level, string Message, string? File, int Line, int Column)
{
    public string Location => File is null ? "(no location)" : Line > 0 ? $"{File}:{Line}" : File;
}

/// <summary>What the trusted build produced.</summary>
public sealed class BuildResult
{
    public required bool Succeeded { get; init; }
    public string? AssemblyPath { get; init; }
    public string? SarifPath { get; init; }
    public string OutputDirectory { get; init; } = "";
    public IReadOnlyList<Finding> Diagnostics { get; init; } = Array.Empty<Finding>();
    public IReadOnlyList<string> Sources { get; init; } = Array.Empty<string>();
    public IReadOnlyList<string> Notes { get; init; } = Array.Empty<string>();
    public string Log { get; init; } = "";
    public TimeSpan Duration { get; init; }
    public string? FailureReason { get; init; }
}
