using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH1004Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("kmalloc with __GFP_HIGHMEM", @"void f() { buf = kmalloc(64, [|GFP_KERNEL | __GFP_HIGHMEM|]); }"),
        Case("two zone modifiers through a gfp_t local", @"void f() { gfp_t gfp = __GFP_DMA | __GFP_HIGHMEM; var p = alloc_pages([|gfp|], 0); }"),
        Case("DMA and DMA32 together", @"void f() { buf = kmalloc(64, [|GFP_DMA | __GFP_DMA32|]); }"),
        Case("alloc_pages with DMA and HIGHMEM", @"void f() { var p = alloc_pages([|__GFP_DMA | __GFP_HIGHMEM|], 0); }"),
        Case("slab cache with __GFP_DMA32", @"private kmem_cache? c; void f() { buf = kmem_cache_alloc(c!, [|GFP_KERNEL | __GFP_DMA32|]); }"),
        Case("__GFP_NOFAIL with GFP_ATOMIC", @"void f() { buf = kzalloc(64, [|GFP_ATOMIC | __GFP_NOFAIL|]); }"),
        Case("__GFP_NOFAIL with GFP_NOWAIT", @"void f() { buf = kmalloc(64, [|GFP_NOWAIT | __GFP_NOFAIL|]); }"),
        Case("kcalloc with GFP_HIGHUSER", @"void f() { buf = kcalloc(2, 64, [|GFP_HIGHUSER|]); }"),
        Case("__get_free_pages with two zones", @"void f() { ulong a = __get_free_pages([|GFP_DMA | __GFP_HIGHMEM|], 0); }"),
        Case("kmalloc_array with GFP_DMA32", @"void f() { buf = kmalloc_array(4, 64, [|GFP_DMA32|]); }"),
        Case("krealloc with GFP_HIGHUSER_MOVABLE", @"void f() { buf = krealloc(buf, 64, [|GFP_HIGHUSER_MOVABLE|]); }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("GFP_KERNEL", @"void f() { buf = kmalloc(64, GFP_KERNEL); }"),
        Case("a gfp_t local set again to one zone", @"void f() { var gfp = __GFP_DMA | __GFP_HIGHMEM; gfp = GFP_DMA; buf = kmalloc(64, gfp); }"),
        Case("GFP_DMA kmalloc", @"void f() { buf = kmalloc(64, GFP_DMA); }"),
        Case("alloc_pages GFP_HIGHUSER", @"void f() { var p = alloc_pages(GFP_HIGHUSER, 0); }"),
        Case("alloc_pages GFP_HIGHUSER_MOVABLE", @"void f() { var p = alloc_pages(GFP_HIGHUSER_MOVABLE, 1); }"),
        Case("__GFP_NOFAIL with GFP_KERNEL", @"void f() { buf = kmalloc(64, GFP_KERNEL | __GFP_NOFAIL); }"),
        Case("GFP_DMA32 pages", @"void f() { var p = alloc_pages(GFP_DMA32, 0); }"),
        Case("GFP_ATOMIC | __GFP_ZERO", @"void f() { buf = kmalloc(64, GFP_ATOMIC | __GFP_ZERO); }"),
        Case("__get_free_pages GFP_DMA32", @"void f() { ulong a = __get_free_pages(GFP_DMA32, 0); }"),
        Case("non-constant gfp", @"void f(gfp_t g) { buf = kmalloc(64, g); }"),
        Case("GFP_NOIO kzalloc", @"void f() { buf = kzalloc(64, GFP_NOIO); }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<InvalidGfpCombinationAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<InvalidGfpCombinationAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }

    [Fact]
    public void Message_names_the_problem()
    {
        Verify<InvalidGfpCombinationAnalyzer>.Diagnostics(Snippets.Driver(@"void f() { buf = kmalloc(64, {|#0:GFP_KERNEL | __GFP_HIGHMEM|}); }"),
            Expected.Diagnostic("KH1004", 0).WithMessage("Invalid GFP combination passed to kmalloc(): __GFP_HIGHMEM passed to a slab allocator (GFP_SLAB_BUG_MASK)"));
    }
}
