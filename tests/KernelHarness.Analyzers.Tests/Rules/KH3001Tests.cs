using System.Collections.Generic;
using KernelHarness.Analyzers.CodeFixes;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;
using static KernelHarness.Analyzers.Tests.Rules.MemoryRuleSnippets;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH3001Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("kmem_cache_alloc freed with kfree", @"void f() { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); if (p == NULL) return; [|kfree(p)|]; }"),
        Case("kmem_cache_alloc freed to another cache", @"void f() { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); if (p == NULL) return; [|kmem_cache_free(cache_b, p)|]; }"),
        Case("kmem_cache_zalloc freed with kfree", @"void f() { var p = kmem_cache_zalloc(cache_b, GFP_KERNEL); [|kfree(p)|]; }"),
        Case("kmalloc freed with vfree", @"void f() { var p = kmalloc(64, GFP_KERNEL); [|vfree(p)|]; }"),
        Case("vmalloc freed with kfree", @"void f() { var p = vmalloc(1 << 20); [|kfree(p)|]; }"),
        Case("kvmalloc freed with kfree", @"void f() { var p = kvmalloc(1 << 20, GFP_KERNEL); [|kfree(p)|]; }"),
        Case("__get_free_pages freed with another order", @"void f() { var a = __get_free_pages(GFP_KERNEL, 2); if (a == 0) return; [|free_pages(a, 1)|]; }"),
        Case("alloc_pages freed with another order", @"void f() { var pg = alloc_pages(GFP_KERNEL, 1); if (pg == null) return; [|__free_pages(pg, 0)|]; }"),
        Case("through a local alias", @"void f() { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); var q = p; [|kfree(q)|]; }"),
        Case("allocation returned by a helper", @"kptr get() { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); return p; } void f() { var p = get(); if (p == NULL) return; [|kfree(p)|]; }"),
        Case("freed by a helper that frees into another cache", @"void put(kptr p) => kmem_cache_free(cache_b, p); void f() { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); if (p == NULL) return; [|put(p)|]; }"),
        Case("freed through a parameter of a helper", @"void release(kptr x) { count--; kfree(x); } void f() { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); if (p == NULL) return; [|release(p)|]; }"),
        Case("field filled from a cache, freed with kfree elsewhere", @"int init() { obj = kmem_cache_alloc(cache_a, GFP_KERNEL); return obj == NULL ? -ENOMEM : 0; } void exit() { [|kfree(obj)|]; }"),
        Case("field filled through a helper", @"kptr make() => kmem_cache_zalloc(cache_b, GFP_KERNEL); int init() { buf = make(); return 0; } void exit() { [|kmem_cache_free(cache_a, buf)|]; }"),
        Case("page address kept in a ulong field, freed with another order", @"ulong pages; int init() { pages = __get_free_pages(GFP_KERNEL, 2); return pages == 0 ? -ENOMEM : 0; } void exit() { [|free_pages(pages, 1)|]; }"),
        Case("cache passed to a helper that allocates from it", @"kptr from(kmem_cache c) => kmem_cache_alloc(c, GFP_KERNEL); void f() { var p = from(cache_a); [|kmem_cache_free(cache_b, p)|]; }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("buffers swapped by a deconstruction, each freed by its own free", @"void f(ulong size) { var wide = kvmalloc(size * 2, GFP_KERNEL); var narrow = kmalloc(size, GFP_KERNEL); (wide, narrow) = (narrow, wide); kfree(wide); kvfree(narrow); }"),
        Case("kvfree of kmalloc memory", @"void f() { var p = kmalloc(64, GFP_KERNEL); kvfree(p); }"),
        Case("kvfree of vmalloc memory", @"void f() { var p = vmalloc(1 << 20); kvfree(p); }"),
        Case("kvfree of kvmalloc memory", @"void f() { var p = kvmalloc(1 << 20, GFP_KERNEL); kvfree(p); }"),
        Case("kfree of kmalloc memory", @"void f() { var p = kmalloc(64, GFP_KERNEL); kfree(p); }"),
        Case("kfree of kzalloc memory", @"void f() { var p = kzalloc(64, GFP_KERNEL); kfree(p); }"),
        Case("kfree of kcalloc memory", @"void f() { var p = kcalloc(4, 64, GFP_KERNEL); kfree(p); }"),
        Case("kfree of krealloc memory", @"void f() { var p = kmalloc(64, GFP_KERNEL); var q = krealloc(p, 128, GFP_KERNEL); if (q == NULL) { kfree(p); return; } kfree(q); }"),
        Case("kmem_cache_free to the same cache", @"void f() { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); if (p == NULL) return; kmem_cache_free(cache_a, p); }"),
        Case("free_pages with the same order", @"void f() { var a = __get_free_pages(GFP_KERNEL, 2); if (a == 0) return; free_pages(a, 2); }"),
        Case("page address kept in a ulong field, freed with the same order", @"ulong pages; int init() { pages = __get_free_pages(GFP_KERNEL, 2); return pages == 0 ? -ENOMEM : 0; } void exit() { free_pages(pages, 2); }"),
        Case("a ulong field of unknown origin", @"ulong pages; void set(ulong a) => pages = a; void exit() { free_pages(pages, 1); }"),
        Case("order not a constant", @"void f(int o) { var a = __get_free_pages(GFP_KERNEL, 2); free_pages(a, o); }"),
        Case("cache from a parameter", @"void f(kmem_cache c) { var p = kmem_cache_alloc(c, GFP_KERNEL); kmem_cache_free(cache_a, p); }"),
        Case("reassigned before the free", @"void f() { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); kmem_cache_free(cache_a, p); p = kmalloc(8, GFP_KERNEL); kfree(p); }"),
        Case("different allocations on different branches", @"void f(bool big) { kptr p; if (big) { p = vmalloc(1 << 20); vfree(p); } else { p = kmalloc(64, GFP_KERNEL); kfree(p); } }"),
        Case("helper that frees with the matching cache", @"void put(kptr p) => kmem_cache_free(cache_a, p); void f() { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); put(p); }"),
        Case("field with mixed provenance", @"void a() { obj = kmalloc(8, GFP_KERNEL); } void b() { obj = vmalloc(4096); } void exit() { kvfree(obj); kfree(buf); }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<MismatchedFreeAnalyzer>.Diagnostics(Caches(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<MismatchedFreeAnalyzer>.NoDiagnostics(Caches(markup));
    }

    [Fact]
    public void Message_names_the_allocation_and_the_matching_free()
    {
        Verify<MismatchedFreeAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    kmem_cache cache_a = kmem_cache_create(""a"", 64, 8, 0, null)!;
    void f()
    {
        var p = kmem_cache_alloc(cache_a, GFP_KERNEL);
        {|#0:kfree(p)|};
    }
}", Expected.Diagnostic("KH3001", 0).WithMessage("kfree() frees memory from kmem_cache_alloc(cache_a) (allocated at Driver.cs:7); use kmem_cache_free(cache_a, p)"));
    }

    [Fact]
    public void Message_names_the_helper_chain()
    {
        Verify<MismatchedFreeAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    kmem_cache cache_a = kmem_cache_create(""a"", 64, 8, 0, null)!;
    void release(kptr x) => kfree(x);
    void f()
    {
        var p = kmem_cache_alloc(cache_a, GFP_KERNEL);
        {|#0:release(p)|};
    }
}", Expected.Diagnostic("KH3001", 0).WithMessage("kfree() frees memory from kmem_cache_alloc(cache_a) (allocated at Driver.cs:8) — called via release() -> kfree(); use kmem_cache_free(cache_a, p)"));
    }

    [Fact]
    public void Free_of_kmalloc_or_vmalloc_memory_by_path_suggests_kvfree()
    {
        // kfree is right on the kmalloc path: the free that takes both is kvfree, not vfree.
        Verify<MismatchedFreeAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    void f(bool big)
    {
        var p = big ? vmalloc(4096) : kmalloc(64, GFP_KERNEL);
        if (p == NULL)
            return;
        {|#0:kfree(p)|};
    }
}", Expected.Diagnostic("KH3001", 0).WithMessage("kfree() frees memory from vmalloc() (allocated at Driver.cs:6); use kvfree(p)"));
    }

    [Fact]
    public void Free_of_a_cache_object_or_kmalloc_memory_by_path_names_no_single_free()
    {
        Verify<MismatchedFreeAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    kmem_cache cache_a = kmem_cache_create(""a"", 64, 8, 0, null)!;
    void f(bool pooled)
    {
        var p = pooled ? kmem_cache_alloc(cache_a, GFP_KERNEL) : kmalloc(64, GFP_KERNEL);
        {|#0:kfree(p)|};
    }
}", Expected.Diagnostic("KH3001", 0).WithMessage("kfree() frees memory from kmem_cache_alloc(cache_a) (allocated at Driver.cs:7); use on each path the free of that path's allocation"));
    }

    [Fact]
    public void Fix_frees_kmalloc_or_vmalloc_memory_with_kvfree()
    {
        const string before = @"
public sealed class Driver
{
    void f(bool big)
    {
        var p = big ? vmalloc(4096) : kmalloc(64, GFP_KERNEL);
        kfree(p);
    }
}";
        var after = before.Replace("kfree(p)", "kvfree(p)");
        Verify<MismatchedFreeAnalyzer>.CodeFix<MatchingFreeCodeFixProvider>(before, after, after, MatchingFreeCodeFixProvider.EquivalenceKey);
    }

    [Fact]
    public void Fix_frees_into_the_allocating_cache()
    {
        const string before = @"
public sealed class Driver
{
    kmem_cache cache_a = kmem_cache_create(""a"", 64, 8, 0, null)!;
    kmem_cache cache_b = kmem_cache_create(""b"", 64, 8, 0, null)!;
    void f()
    {
        var p = kmem_cache_alloc(cache_a, GFP_KERNEL);
        var q = vmalloc(4096);
        kmem_cache_free(cache_b, p);
        kfree(q);
    }
}";
        const string afterOne = @"
public sealed class Driver
{
    kmem_cache cache_a = kmem_cache_create(""a"", 64, 8, 0, null)!;
    kmem_cache cache_b = kmem_cache_create(""b"", 64, 8, 0, null)!;
    void f()
    {
        var p = kmem_cache_alloc(cache_a, GFP_KERNEL);
        var q = vmalloc(4096);
        kmem_cache_free(cache_a, p);
        kfree(q);
    }
}";
        const string afterAll = @"
public sealed class Driver
{
    kmem_cache cache_a = kmem_cache_create(""a"", 64, 8, 0, null)!;
    kmem_cache cache_b = kmem_cache_create(""b"", 64, 8, 0, null)!;
    void f()
    {
        var p = kmem_cache_alloc(cache_a, GFP_KERNEL);
        var q = vmalloc(4096);
        kmem_cache_free(cache_a, p);
        vfree(q);
    }
}";
        Verify<MismatchedFreeAnalyzer>.CodeFix<MatchingFreeCodeFixProvider>(before, afterOne, afterAll, MatchingFreeCodeFixProvider.EquivalenceKey);
    }
}
