using System;

namespace KernelHarness.Conformance;

/// <summary>A class of conformance tests for one subsystem (kernel-api.md §6 names).</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ConformanceSuiteAttribute : Attribute
{
    public ConformanceSuiteAttribute(string subsystem) => Subsystem = subsystem;

    /// <summary>The subsystem the suite grades (<c>"slab"</c>, <c>"page allocator"</c>, …).</summary>
    public string Subsystem { get; }
}

/// <summary>Who sees a test's result by default; an assignment file may override it per group.</summary>
public enum TestVisibility
{
    /// <summary>Shipped to students: <c>dotnet test</c> in the student project runs it.</summary>
    Public,
    /// <summary>Run only by the grader; the student sees the score, not the details.</summary>
    Hidden,
}

/// <summary>
/// A conformance test: a method <c>void Name(ConformanceContext ctx)</c> on a
/// <see cref="ConformanceSuiteAttribute"/> class. It runs on a fresh seeded machine with the
/// implementation under test bound, and states the Linux rule it checks.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class ConformanceTestAttribute : Attribute
{
    public ConformanceTestAttribute(string linux) => Linux = linux;

    /// <summary>The Linux rule checked: function and file (<c>"kfree() in mm/slub.c"</c>).</summary>
    public string Linux { get; }

    /// <summary>The group (<c>directed</c>, <c>property</c>, <c>differential</c>, <c>concurrency</c>, <c>performance</c>): assignments give points and visibility per group.</summary>
    public string Group { get; set; } = "directed";

    /// <summary>Default visibility.</summary>
    public TestVisibility Visibility { get; set; } = TestVisibility.Public;

    /// <summary>The seed the test runs with unless a replay names another.</summary>
    public ulong Seed { get; set; } = 1;

    /// <summary>Simulated CPUs (0: the machine's default, 4).</summary>
    public int Cpus { get; set; }

    /// <summary>Physical memory in MiB (0: the default, 256).</summary>
    public int MemoryMiB { get; set; }

    /// <summary><c>sysctl_max_map_count</c> for the test (0: 65530).</summary>
    public int MaxMapCount { get; set; }

    /// <summary>Wall-clock limit in milliseconds.</summary>
    public int TimeoutMs { get; set; } = 20_000;

    /// <summary>Turns the facade's KASAN checks off (allocator-internal tests that poke raw memory).</summary>
    public bool NoKasan { get; set; }

    /// <summary>One line on what the test checks, for reports.</summary>
    public string? Description { get; set; }
}

/// <summary>Marks an assembly that holds conformance suites (instructors' hidden tests), so the catalog finds it.</summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class ContainsConformanceTestsAttribute : Attribute { }
