using System.Collections.Generic;
using System.Linq;
using KernelHarness.Reference.AddressSpace;
using Xunit;

namespace KernelHarness.Conformance.Tests.AddressSpace;

/// <summary>The reference address space passes every test of its conformance suite.</summary>
public sealed class ReferenceAddressSpaceConformanceTests
{
    public static IEnumerable<object[]> Tests() =>
        ConformanceCatalog.For("address space").Select(t => new object[] { t.Id });

    [Theory]
    [MemberData(nameof(Tests))]
    public void Reference_passes(string id)
    {
        var test = ConformanceCatalog.Find("address space", id)!;
        var outcome = ConformanceRunner.Run(test, () => new ReferenceAddressSpace());
        Assert.True(outcome.Passed, outcome.Render());
    }

    [Fact]
    public void Suite_has_every_group_the_assignment_grades()
    {
        var groups = ConformanceCatalog.For("address space").Select(t => t.Group).Distinct().ToHashSet();
        Assert.Subset(groups, new HashSet<string> { "directed", "property", "differential", "concurrency" });
    }
}
