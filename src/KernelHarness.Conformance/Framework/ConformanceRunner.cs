using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Text;
using KernelHarness.Runtime;

namespace KernelHarness.Conformance;

/// <summary>How a test ended.</summary>
public enum TestStatus
{
    Passed,
    /// <summary>A check failed, or the kernel reported a bug.</summary>
    Failed,
    /// <summary>The implementation threw.</summary>
    Errored,
    /// <summary>The machine deadlocked or locked up.</summary>
    Deadlocked,
    /// <summary>It ran past its time limit.</summary>
    TimedOut,
}

/// <summary>The result of one conformance test: everything a failure message needs to explain and reproduce it.</summary>
public sealed record TestOutcome
{
    public required string Id { get; init; }
    public required string Subsystem { get; init; }
    public required string Group { get; init; }
    public required string Name { get; init; }
    public required string Linux { get; init; }
    public required ulong Seed { get; init; }
    public required TestStatus Status { get; init; }
    public bool Passed => Status == TestStatus.Passed;

    /// <summary>What did not hold (the Linux rule), or empty when passed.</summary>
    public string Message { get; init; } = "";
    public string? Expected { get; init; }
    public string? Actual { get; init; }

    /// <summary>The kernel's reports made during the test, as the log shows them.</summary>
    public IReadOnlyList<string> Reports { get; init; } = Array.Empty<string>();

    /// <summary>The last lines of the kernel log.</summary>
    public IReadOnlyList<string> KernelLog { get; init; } = Array.Empty<string>();

    /// <summary>The last steps the test recorded before it failed.</summary>
    public IReadOnlyList<string> Steps { get; init; } = Array.Empty<string>();

    /// <summary>Metrics a performance test recorded.</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    public TimeSpan Duration { get; init; }

    /// <summary>
    /// The command that re-runs exactly this test, as a student types it in the project the template made
    /// (kh is its local tool, the assignment its <c>assignment</c> folder).
    /// </summary>
    public string ReplayCommand => string.Create(CultureInfo.InvariantCulture, $"dotnet kh replay . --assignment assignment --test \"{Id}\" --seed {Seed}");

    /// <summary>The failure as a student reads it: rule, expected/actual, reports, log, seed and replay command.</summary>
    public string Render()
    {
        var sb = new StringBuilder();
        sb.Append(Status == TestStatus.Passed ? "PASS " : "FAIL ").Append(Id).Append('\n');
        if (Status != TestStatus.Passed)
        {
            sb.Append("  Rule:     ").Append(Linux).Append('\n');
            sb.Append("  Problem:  ").Append(Message).Append('\n');
            if (Expected is not null)
                sb.Append("  Expected: ").Append(Expected).Append('\n');
            if (Actual is not null)
                sb.Append("  Actual:   ").Append(Actual).Append('\n');
            if (Steps.Count > 0)
            {
                sb.Append("  Last steps:\n");
                foreach (var s in Steps.TakeLast(8))
                    sb.Append("    ").Append(s).Append('\n');
            }
            if (Reports.Count > 0)
            {
                sb.Append("  Kernel reports:\n");
                foreach (var r in Reports.Take(5))
                    foreach (var line in r.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(14))
                        sb.Append("    ").Append(line).Append('\n');
            }
            sb.Append(CultureInfo.InvariantCulture, $"  Seed:     {Seed}\n");
            sb.Append("  Replay:   ").Append(ReplayCommand).Append('\n');
        }
        return sb.ToString();
    }
}

/// <summary>Thrown by <see cref="ConformanceRunner.RunForTestFramework"/> so a test framework shows the failure.</summary>
public sealed class ConformanceException : Exception
{
    public ConformanceException(TestOutcome outcome) : base(outcome.Render()) => Outcome = outcome;

    public TestOutcome Outcome { get; }
}

/// <summary>
/// Runs conformance tests: one fresh machine per test, seeded, with the implementation under test
/// bound in place of the reference. The one path by which <c>dotnet test</c> (the generated
/// scaffolding) and the grader run a test.
/// </summary>
public static class ConformanceRunner
{
    /// <summary>The ids of a subsystem's public tests, as xunit theory data.</summary>
    public static IEnumerable<object[]> PublicTestCases(string subsystem) =>
        ConformanceCatalog.For(subsystem).Where(t => t.Visibility == TestVisibility.Public).Select(t => new object[] { t.Id });

    /// <summary>Runs one test and throws <see cref="ConformanceException"/> when it does not pass (for xunit).</summary>
    public static void RunForTestFramework(string subsystem, string test, Func<object> create)
    {
        var info = ConformanceCatalog.Find(subsystem, test)
            ?? throw new ArgumentException($"No conformance test '{test}' for subsystem '{subsystem}'.", nameof(test));
        var outcome = Run(info, create);
        if (!outcome.Passed)
            throw new ConformanceException(outcome);
    }

    /// <summary>Runs one test against the implementation <paramref name="create"/> makes.</summary>
    public static TestOutcome Run(ConformanceTestInfo test, Func<object> create, ulong? seed = null)
    {
        ulong s = seed ?? test.DefaultSeed;
        var stopwatch = Stopwatch.StartNew();
        var a = test.Attribute;
        var config = new MachineConfig
        {
            Seed = s,
            Cpus = a.Cpus > 0 ? a.Cpus : 4,
            MemoryMiB = a.MemoryMiB > 0 ? a.MemoryMiB : 256,
            MaxMapCount = a.MaxMapCount > 0 ? a.MaxMapCount : Kernel.DEFAULT_MAX_MAP_COUNT,
            WallClockLimit = TimeSpan.FromMilliseconds(a.TimeoutMs),
            Kasan = !a.NoKasan,
        };
        object subject;
        try
        {
            subject = create();
        }
        catch (Exception ex)
        {
            return Outcome(test, s, TestStatus.Errored, $"The implementation's constructor threw {ex.GetType().Name}: {ex.Message}", stopwatch);
        }
        var machine = new Machine(config);
        try
        {
            // A suite whose subject is not a kernel subsystem (the "driver" assignment: a student's driver
            // class) runs on the reference kernel; only kernel subsystems are bound.
            if (Machine.Subsystems.Any(i => i.Name == test.Subsystem))
                machine.Bind(test.Subsystem, subject);
        }
        catch (ArgumentException ex)
        {
            return Outcome(test, s, TestStatus.Errored, ex.Message, stopwatch);
        }

        var ctx = new ConformanceContext(machine, subject, test, s);
        ConformanceFailure? failure = null;
        Exception? error = null;
        RunOutcome run;
        try
        {
            run = machine.Run(() => Invoke(test, ctx));
        }
        catch (ConformanceFailure f)
        {
            failure = f;
            run = machine.Outcome;
        }
        catch (Exception ex)
        {
            error = ex;
            run = machine.Outcome;
        }

        var reports = machine.Reports.Select(r => r.Render().TrimEnd()).ToList();
        var log = machine.Log.Lines.TakeLast(40).Select(l => l.Format(config.InitialJiffies)).ToList();
        TestOutcome Make(TestStatus status, string message, string? expected = null, string? actual = null) => new()
        {
            Id = test.Id,
            Subsystem = test.Subsystem,
            Group = test.Group,
            Name = test.Name,
            Linux = test.Linux,
            Seed = s,
            Status = status,
            Message = message,
            Expected = expected,
            Actual = actual,
            Reports = reports,
            KernelLog = log,
            Steps = ctx.Steps.ToList(),
            Metrics = ctx.Metrics.ToDictionary(kv => kv.Key, kv => kv.Value.Value),
            Duration = stopwatch.Elapsed,
        };

        switch (run)
        {
            case RunOutcome.Deadlocked:
                return Make(TestStatus.Deadlocked, "Every task blocked: the kernel deadlocked (see the hung-task report).");
            case RunOutcome.Lockup:
                return Make(TestStatus.Deadlocked, "A spinlock was never released: lockup (see the report).");
            case RunOutcome.TimedOut:
                return Make(TestStatus.TimedOut, $"The test ran past its {a.TimeoutMs} ms limit without calling the kernel API (an infinite loop?).");
        }
        if (failure is not null)
            return Make(TestStatus.Failed, failure.What, failure.Expected, failure.Actual);
        if (error is not null)
        {
            var frame = error.StackTrace?.Split('\n').FirstOrDefault()?.Trim();
            return Make(TestStatus.Errored, $"The implementation threw {error.GetType().Name}: {error.Message}", actual: frame);
        }
        if (run == RunOutcome.Oops)
            return Make(TestStatus.Failed, "The kernel hit a BUG (Oops) during the test.");
        var unexpected = machine.Reports.FirstOrDefault(r => !ctx.AllowedReports.Contains(r.Kind));
        if (unexpected is not null)
            return Make(TestStatus.Failed, $"The kernel reported a bug during the test: {unexpected.Title}", "no kernel report", unexpected.Title);
        return Make(TestStatus.Passed, "");
    }

    private static void Invoke(ConformanceTestInfo test, ConformanceContext ctx)
    {
        var method = test.Method;
        object? instance = method.IsStatic ? null : Activator.CreateInstance(method.DeclaringType!);
        try
        {
            method.Invoke(instance, new object[] { ctx });
            ctx.RunEndOfTestChecks();
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            ExceptionDispatchInfo.Capture(ex.InnerException).Throw();
        }
    }

    private static TestOutcome Outcome(ConformanceTestInfo test, ulong seed, TestStatus status, string message, Stopwatch sw) => new()
    {
        Id = test.Id,
        Subsystem = test.Subsystem,
        Group = test.Group,
        Name = test.Name,
        Linux = test.Linux,
        Seed = seed,
        Status = status,
        Message = message,
        Duration = sw.Elapsed,
    };
}
