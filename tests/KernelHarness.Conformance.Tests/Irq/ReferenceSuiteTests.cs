using System;
using System.Collections.Generic;
using System.Linq;
using KernelHarness.Reference.CpuState;
using KernelHarness.Reference.Irq;
using Xunit;

namespace KernelHarness.Conformance.Tests.Irq;

/// <summary>The reference implementations pass every test of the irq and cpu-state suites.</summary>
public sealed class ReferenceSuiteTests
{
    public static IEnumerable<object[]> IrqTests() => ConformanceCatalog.For("irq").Select(t => new object[] { t.Id });

    public static IEnumerable<object[]> CpuStateTests() => ConformanceCatalog.For("cpu state").Select(t => new object[] { t.Id });

    [Theory]
    [MemberData(nameof(IrqTests))]
    public void Reference_irq_passes(string id) => Run("irq", id, () => new ReferenceIrq());

    [Theory]
    [MemberData(nameof(CpuStateTests))]
    public void Reference_cpu_state_passes(string id) => Run("cpu state", id, () => new ReferenceCpuState());

    [Fact]
    public void The_suites_have_directed_property_and_concurrency_groups()
    {
        foreach (var subsystem in new[] { "irq", "cpu state" })
        {
            var groups = ConformanceCatalog.For(subsystem).Select(t => t.Group).Distinct().ToList();
            Assert.Contains("directed", groups);
            Assert.Contains("property", groups);
            Assert.Contains("concurrency", groups);
        }
    }

    internal static void Run(string subsystem, string id, Func<object> create)
    {
        var test = ConformanceCatalog.Find(subsystem, id) ?? throw new InvalidOperationException(id);
        var outcome = ConformanceRunner.Run(test, create);
        Assert.True(outcome.Passed, outcome.Render());
    }
}
