using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using KernelHarness.Runtime;

namespace KernelHarness.Conformance;

/// <summary>A check of a conformance test did not hold.</summary>
public sealed class ConformanceFailure : Exception
{
    public ConformanceFailure(string what, string? expected = null, string? actual = null)
        : base(what)
    {
        What = what;
        Expected = expected;
        Actual = actual;
    }

    /// <summary>What did not hold, in the words of the Linux rule.</summary>
    public string What { get; }
    public string? Expected { get; }
    public string? Actual { get; }
}

/// <summary>
/// What a conformance test works with: the machine (booted, with the implementation under test
/// bound), the seed and a random source derived from it, and checks that fail with the rule, what
/// was expected and what happened.
/// </summary>
public sealed class ConformanceContext
{
    private readonly HashSet<ReportKind> allowed = new();
    private readonly List<string> steps = new();
    private readonly Dictionary<string, Metric> metrics = new(StringComparer.Ordinal);
    private int expectedReportMark;
    private ulong rng;

    internal ConformanceContext(Machine machine, object subject, ConformanceTestInfo test, ulong seed)
    {
        Machine = machine;
        SubjectObject = subject;
        Test = test;
        Seed = seed;
        rng = seed ^ 0x9E3779B97F4A7C15UL;
    }

    /// <summary>The simulated machine the test runs on.</summary>
    public Machine Machine { get; }

    /// <summary>The test being run.</summary>
    public ConformanceTestInfo Test { get; }

    /// <summary>The seed of this run.</summary>
    public ulong Seed { get; }

    internal object SubjectObject { get; }

    /// <summary>The implementation under test, as its subsystem interface.</summary>
    public T Subject<T>() where T : class =>
        SubjectObject as T ?? throw new InvalidOperationException($"The implementation under test ({SubjectObject.GetType().Name}) is not a {typeof(T).Name}.");

    internal IReadOnlyCollection<ReportKind> AllowedReports => allowed;
    internal IReadOnlyList<string> Steps => steps;
    internal IReadOnlyDictionary<string, Metric> Metrics => metrics;

    // ---- Randomness derived from the seed (SplitMix64) ----

    /// <summary>A 64-bit value from the test's seeded stream.</summary>
    public ulong NextULong()
    {
        ulong z = rng += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A value in [0, <paramref name="bound"/>).</summary>
    public int Next(int bound) => bound <= 0 ? 0 : (int)(NextULong() % (ulong)bound);

    /// <summary>A value in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int Next(int min, int max) => min + Next(max - min + 1);

    // ---- Checks ----

    /// <summary>Fails with <paramref name="rule"/> unless <paramref name="condition"/> holds.</summary>
    public void Check(bool condition, string rule, string? expected = null, string? actual = null)
    {
        if (!condition)
            throw new ConformanceFailure(rule, expected, actual);
    }

    /// <summary>Fails unless <paramref name="actual"/> equals <paramref name="expected"/>.</summary>
    public void Equal<T>(T expected, T actual, string rule)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
            throw new ConformanceFailure(rule, Format(expected), Format(actual));
    }

    /// <summary>Fails now.</summary>
    public ConformanceFailure Fail(string rule, string? expected = null, string? actual = null) => new(rule, expected, actual);

    private static string Format<T>(T value) => value switch
    {
        null => "null",
        ulong u => string.Create(CultureInfo.InvariantCulture, $"0x{u:x} ({u})"),
        kptr p => p.ToString(),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "null",
    };

    /// <summary>Records progress, shown with a failure ("op 1234: kmalloc(96)").</summary>
    public void Step(string what)
    {
        if (steps.Count >= 200)
            steps.RemoveAt(0);
        steps.Add(what);
    }

    // ---- Kernel reports ----

    /// <summary>Reports of these kinds do not fail the test (it provokes them on purpose).</summary>
    public void AllowReports(params ReportKind[] kinds)
    {
        foreach (var k in kinds)
            allowed.Add(k);
    }

    /// <summary>Fails unless a report of <paramref name="kind"/> (whose title contains <paramref name="titleContains"/>) was made since the last expectation; returns it.</summary>
    public KernelReport ExpectReport(ReportKind kind, string rule, string? titleContains = null)
    {
        allowed.Add(kind);
        var reports = Machine.Reports;
        for (int i = expectedReportMark; i < reports.Count; i++)
        {
            var r = reports[i];
            if (r.Kind == kind && (titleContains is null || r.Title.Contains(titleContains, StringComparison.Ordinal)
                                   || r.Details.Any(d => d.Contains(titleContains, StringComparison.Ordinal))))
            {
                expectedReportMark = i + 1;
                return r;
            }
        }
        throw new ConformanceFailure(rule, $"a {kind} report{(titleContains is null ? "" : $" mentioning \"{titleContains}\"")}",
            reports.Count == expectedReportMark ? "no report" : string.Join(" | ", reports.Skip(expectedReportMark).Select(r => r.Title)));
    }

    /// <summary>Reports made so far of a kind.</summary>
    public int CountReports(ReportKind kind) => Machine.Reports.Count(r => r.Kind == kind);

    // ---- kmemleak ----

    /// <summary>
    /// kmemleak's scan at the end of a test: every kmalloc, kmem_cache or vmalloc object still allocated
    /// and not reachable from <paramref name="roots"/> (directly, or through pointers stored in reachable
    /// objects) is reported as "unreferenced object" — and fails the test with <paramref name="rule"/>.
    /// </summary>
    public void CheckNoLeaks(string rule, params kptr[] roots)
    {
        leakCheckAtEnd = null; // checked now: not again at the end
        var leaks = Machine.Checks.ScanForLeaks(roots);
        allowed.Add(ReportKind.Kmemleak);
        if (leaks.Count > 0)
        {
            throw new ConformanceFailure(rule, "no unreferenced object",
                string.Join(", ", leaks.Take(5).Select(l => $"{l.Size}-byte object at 0x{l.Start:x} from {l.Function}()"))
                + (leaks.Count > 5 ? $" and {leaks.Count - 5} more" : ""));
        }
    }

    private (string Rule, kptr[] Roots)? leakCheckAtEnd;

    /// <summary>
    /// Declares the test's kmemleak roots: when the test body returns, <see cref="CheckNoLeaks"/> runs with
    /// them (inside the machine, before it stops), so any object still allocated and reachable from
    /// nothing the test keeps fails the test with <paramref name="rule"/>. A test that declares nothing is
    /// not leak-checked (many keep objects on purpose). Needs KASAN's allocation records (the default
    /// debug configuration); objects waiting in <c>kfree_rcu</c> count as referenced, as in Linux.
    /// </summary>
    public void CheckLeaksAtEnd(string rule, params kptr[] roots) => leakCheckAtEnd = (rule, roots);

    /// <summary>Runs the end-of-test checks a test declared (the runner calls it when the body returns).</summary>
    internal void RunEndOfTestChecks()
    {
        if (leakCheckAtEnd is { } check)
            CheckNoLeaks(check.Rule, check.Roots);
    }

    // ---- Performance ----

    /// <summary>A figure a performance test measures (ops, utilization); the grader compares it with the reference's.</summary>
    public readonly record struct Metric(string Name, double Value, bool HigherIsBetter);

    /// <summary>Records a metric of this run.</summary>
    public void RecordMetric(string name, double value, bool higherIsBetter = true) =>
        metrics[name] = new Metric(name, value, higherIsBetter);
}
