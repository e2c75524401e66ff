using System.Collections.Generic;
using System.Linq;
using KernelHarness.Conformance;
using KernelHarness.Reference.PageAllocator;
using KernelHarness.Reference.Slab;
using Xunit;

namespace KernelHarness.Conformance.Tests.Memory;

/// <summary>The reference page allocator and slab pass every test of their conformance suites.</summary>
public sealed class ReferenceConformanceTests
{
    public static IEnumerable<object[]> PageAllocatorTests() => ConformanceCatalog.For("page allocator").Select(t => new object[] { t.Id });

    public static IEnumerable<object[]> SlabTests() => ConformanceCatalog.For("slab").Select(t => new object[] { t.Id });

    [Theory]
    [MemberData(nameof(PageAllocatorTests))]
    public void Reference_page_allocator_passes(string id)
    {
        var outcome = ConformanceRunner.Run(ConformanceCatalog.Find("page allocator", id)!, () => new ReferencePageAllocator());
        Assert.True(outcome.Passed, outcome.Render());
    }

    [Theory]
    [MemberData(nameof(SlabTests))]
    public void Reference_slab_passes(string id)
    {
        var outcome = ConformanceRunner.Run(ConformanceCatalog.Find("slab", id)!, () => new ReferenceSlab());
        Assert.True(outcome.Passed, outcome.Render());
    }
}
