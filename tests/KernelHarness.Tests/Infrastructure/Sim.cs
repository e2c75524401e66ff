using System;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using KernelHarness.Runtime;
using Xunit;

namespace KernelHarness.Tests.Infrastructure;

/// <summary>Small helpers shared by the runtime and reference-kernel tests.</summary>
internal static class Sim
{
    /// <summary>Runs <paramref name="body"/> as the init task of a fresh machine and returns the machine.</summary>
    public static Machine Run(Action body, MachineConfig? config = null)
    {
        var m = new Machine(config ?? new MachineConfig { Seed = 1 });
        m.Run(body);
        return m;
    }

    /// <summary>The line this is called on.</summary>
    public static int Here([CallerLineNumber] int line = 0) => line;

    /// <summary>FILE:LINE of the call, as reports print it.</summary>
    public static string Site(int line, [CallerFilePath] string file = "") => $"{System.IO.Path.GetFileName(file)}:{line}";

    public static void NoReports(Machine m) =>
        Assert.True(m.Reports.Count == 0, "unexpected reports:\n" + string.Join("\n", m.Reports.Select(r => r.Render())));

    public static KernelReport Single(Machine m, ReportKind kind)
    {
        var matching = m.Reports.Where(r => r.Kind == kind).ToList();
        Assert.True(matching.Count == 1,
            $"expected one {kind} report, got {matching.Count}:\n" + string.Join("\n", m.Reports.Select(r => r.Render())));
        return matching[0];
    }

    /// <summary>Asserts the report's title is in the kernel log (dmesg), followed by its details.</summary>
    public static void InLog(Machine m, KernelReport r)
    {
        var dmesg = m.Log.Dump();
        Assert.Contains("] " + r.Title + "\n", dmesg);
        foreach (var d in r.Details.Where(d => d.Trim().Length > 0))
            Assert.Contains(d.TrimEnd(), dmesg);
    }

    /// <summary>True when a fresh machine binds a (reference) implementation of <paramref name="field"/>.</summary>
    public static bool IsBound(string field)
    {
        var m = new Machine(new MachineConfig { Cpus = 1 });
        var f = typeof(Machine).GetField(field, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public);
        return f?.GetValue(m) is not null;
    }
}

/// <summary>A fact that is skipped while a subsystem's reference implementation is not bound by default.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequiresSubsystemFactAttribute : FactAttribute
{
    /// <param name="fields">Machine fields of the subsystems needed (<c>Slab</c>, <c>PageAllocator</c>, <c>Irq</c>, <c>AddressSpace</c>).</param>
    public RequiresSubsystemFactAttribute(params string[] fields)
    {
        var missing = fields.Where(f => !Sim.IsBound(f)).ToArray();
        if (missing.Length > 0)
            Skip = $"needs the reference {string.Join(" and ", missing.Select(Describe))} subsystem, which is not written yet";
    }

    private static string Describe(string field) => field switch
    {
        "Slab" => "slab",
        "PageAllocator" => "page allocator",
        "AddressSpace" => "address space",
        "Irq" => "irq",
        _ => field,
    };
}
