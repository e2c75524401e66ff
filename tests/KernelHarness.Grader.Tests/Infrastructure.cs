using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using KernelHarness.Grader;
using KernelHarness.Grader.Scoring;
using Xunit;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace KernelHarness.Grader.Tests;

public static class Repo
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Harness.sln")))
            dir = Path.GetDirectoryName(dir.TrimEnd('/'));
        return dir ?? throw new InvalidOperationException("Harness.sln not found");
    }

    public static string Assignment(string name) => Path.Combine(Root, "examples", "assignments", name);

    public static string Hostile(string name) => Path.Combine(Root, "tests", "KernelHarness.Grader.Tests", "Hostile", name);
}

/// <summary>
/// Grades each example submission and hostile case once per test run (builds are the slow part),
/// caching results by key; tests read from it.
/// </summary>
public sealed class GradedFixture : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<(GradeResult Result, string Out)>> cache = new();

    public string Root { get; } = Directory.CreateTempSubdirectory("kh-grader-tests-").FullName;

    public (GradeResult Result, string Out) Grade(string submission, string assignment, double? testTimeout = null, string? key = null)
    {
        key ??= submission;
        return cache.GetOrAdd(key, k => new Lazy<(GradeResult, string)>(() =>
        {
            var outDir = Path.Combine(Root, "out", Math.Abs(k.GetHashCode()).ToString(System.Globalization.CultureInfo.InvariantCulture) + "-" + Path.GetFileName(submission));
            var r = Grading.Grade(new GradeOptions
            {
                Submission = submission,
                AssignmentPath = assignment,
                OutDirectory = outDir,
                SubmissionDisplay = submission,
                AssignmentDisplay = assignment,
                TestTimeoutSeconds = testTimeout,
                GitHub = false,
            });
            return (r, outDir);
        })).Value;
    }

    public static JsonObject ResultsJson(string outDir) => JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")))!.AsObject();

    public void Dispose() => Grading.TryDelete(Root);
}

[CollectionDefinition("graded")]
public sealed class GradedCollection : ICollectionFixture<GradedFixture>
{
}
