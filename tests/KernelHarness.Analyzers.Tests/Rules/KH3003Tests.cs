using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;
using static KernelHarness.Analyzers.Tests.Rules.MemoryRuleSnippets;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH3003Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("an alias made by a deconstruction, freed after the original", @"
    int f(ulong len)
    {
        var bounce = kmalloc(128, GFP_KERNEL);
        if (bounce == NULL)
            return -ENOMEM;
        var (cur, n) = (bounce, len);
        kfree(bounce);
        if (n > 64)
            [|kfree(cur)|];
        return 0;
    }"),
        Case("kfree twice", @"void f() { var p = kmalloc(64, GFP_KERNEL); kfree(p); [|kfree(p)|]; }"),
        Case("freed on both branches, then again: one finding", @"
    int f(int frame, bool done)
    {
        var p = kmem_cache_alloc(cache_a, GFP_KERNEL);
        if (p == NULL)
            return -ENOMEM;
        if (frame % 2 == 0)
            kmem_cache_free(cache_a, p);
        else
            kfree(p);
        if (done)
            [|kmem_cache_free(cache_a, p)|];
        return 0;
    }"),
        Case("kmem_cache_free twice", @"void f() { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); kmem_cache_free(cache_a, p); [|kmem_cache_free(cache_a, p)|]; }"),
        Case("twice through an alias", @"void f() { var p = kmalloc(64, GFP_KERNEL); var q = p; kfree(p); [|kfree(q)|]; }"),
        Case("error path frees, then the shared exit frees again", @"int f(bool bad) { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; int ret = 0; if (bad) { kfree(p); ret = -EINVAL; } [|kfree(p)|]; return ret; }"),
        Case("a parameter freed twice", @"void f(kptr p) { kfree(p); count++; [|kfree(p)|]; }"),
        Case("freed by a local function, then again", @"void f() { var p = kmalloc(64, GFP_KERNEL); void release(kptr q) { count++; kfree(q); } release(p); [|kfree(p)|]; }"),
        Case("freed by a helper that hands it to another, then again", @"void release(kptr q) { count++; drop(q); } void drop(kptr r) => kfree(r); void f() { var p = kmalloc(64, GFP_KERNEL); release(p); [|kfree(p)|]; }"),
        Case("a field freed twice", @"void f() { kfree(buf); [|kfree(buf)|]; }"),
        Case("once by a helper, once directly", @"void release(kptr x) { kfree(x); } void f() { var p = kmalloc(64, GFP_KERNEL); release(p); [|kfree(p)|]; }"),
        Case("vfree twice", @"void f() { var p = vmalloc(4096); vfree(p); [|vfree(p)|]; }"),
        Case("the second of two locals of one name freed twice", @"void f(bool a) { if (a) { var p = kmalloc(64, GFP_KERNEL); kfree(p); } else { var p = vmalloc(4096); vfree(p); [|vfree(p)|]; } }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("frees on disjoint paths", @"void f(bool a) { var p = kmalloc(64, GFP_KERNEL); if (a) kfree(p); else kfree(p); }"),
        Case("reassignment between the frees", @"void f() { var p = kmalloc(64, GFP_KERNEL); kfree(p); p = kmalloc(32, GFP_KERNEL); kfree(p); }"),
        Case("set to NULL after the free", @"void f() { kfree(buf); buf = NULL; kfree(buf); }"),
        Case("loop allocating and freeing", @"void f() { for (int i = 0; i < 4; i++) { var p = kmalloc(64, GFP_KERNEL); kfree(p); } }"),
        Case("early return after free", @"int f(bool bad) { var p = kmalloc(64, GFP_KERNEL); if (bad) { kfree(p); return -EINVAL; } kfree(p); return 0; }"),
        Case("helper that frees only conditionally", @"void maybe(kptr x, bool c) { if (c) kfree(x); } void f(bool c) { var p = kmalloc(64, GFP_KERNEL); maybe(p, c); if (!c) kfree(p); }"),
        Case("two fields", @"void f() { kfree(buf); kfree(obj); }"),
        Case("freeing a NULL pointer after a failed check", @"void f() { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) { kfree(p); return; } kfree(p); }"),
        Case("two locals of one name in sibling scopes, each freed once", @"void f() { { var p = kmalloc(64, GFP_KERNEL); kfree(p); } { var p = kmalloc(32, GFP_KERNEL); kfree(p); } }"),
        Case("goto-style unwinding ladder: each label frees one allocation", @"int f(bool bad) { int ret = 0; var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; var b = kmalloc(64, GFP_KERNEL); if (b == NULL) { ret = -ENOMEM; goto out_a; } if (bad) { ret = -EINVAL; goto out_b; } count++; out_b: kfree(b); out_a: kfree(a); return ret; }"),
        Case("one free in each case of a switch", @"void f(int mode) { var p = kmalloc(64, GFP_KERNEL); switch (mode) { case 0: kfree(p); break; case 1: count++; kfree(p); break; default: kfree(p); break; } }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<DoubleFreeAnalyzer>.Diagnostics(Caches(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<DoubleFreeAnalyzer>.NoDiagnostics(Caches(markup));
    }

    [Fact]
    public void Message_names_the_first_free()
    {
        Verify<DoubleFreeAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    void f()
    {
        var p = kmalloc(64, GFP_KERNEL);
        kfree(p);
        {|#0:kfree(p)|};
    }
}", Expected.Diagnostic("KH3003", 0).WithMessage("kfree() frees p a second time on this path (already freed at Driver.cs:7)"));
    }
}
