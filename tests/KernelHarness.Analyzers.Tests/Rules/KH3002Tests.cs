using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;
using static KernelHarness.Analyzers.Tests.Rules.MemoryRuleSnippets;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH3002Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("kmalloc result passed to memset", @"void f() { var p = kmalloc(64, GFP_KERNEL); memset([|p|], 0, 64); kfree(p); }"),
        Case("kmem_cache_alloc result passed to ptr_ref", @"void f() { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); ptr_ref<long>([|p|]) = 1; kmem_cache_free(cache_a, p); }"),
        Case("checked on one path only", @"void f(bool fast) { var p = kzalloc(64, GFP_KERNEL); if (fast && p == NULL) return; ptr_span([|p|], 8)[0] = 1; kfree(p); }"),
        Case("use before the check", @"void f() { var p = kmalloc(64, GFP_ATOMIC); memset([|p|], 0, 64); if (p == NULL) return; kfree(p); }"),
        Case("allocation from a helper that can return NULL", @"kptr get() { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return NULL; return p; } void f() { var p = get(); memcpy([|p|], buf, 8); kfree(p); }"),
        Case("vmalloc result", @"void f() { var p = vmalloc(8192); memset([|p|], 0, 8192); vfree(p); }"),
        Case("kcalloc array indexed through ptr_span", @"void f() { var ring = kcalloc(16, 8, GFP_KERNEL); ptr_span([|ring|], 128)[0] = 1; obj = ring; }"),
        Case("krealloc result used before the check", @"void f() { var grown = krealloc(buf, 128, GFP_KERNEL); memset([|grown|], 0, 128); buf = grown; }"),
        Case("the other allocation checked (copy-paste)", @"int f() { var rx = kmalloc(64, GFP_KERNEL); var tx = kmalloc(64, GFP_KERNEL); if (rx == NULL) return -ENOMEM; memset(rx, 0, 64); memset([|tx|], 0, 64); kfree(rx); kfree(tx); return 0; }"),
        Case("kvmalloc result", @"void f() { var table = kvmalloc(1 << 16, GFP_KERNEL); memset([|table|], 0, 1 << 16); kvfree(table); }"),
        Case("kmem_cache_zalloc result through ptr_ref", @"void f() { var node = kmem_cache_zalloc(cache_b, GFP_ATOMIC); ptr_ref<int>([|node|]) = count; kmem_cache_free(cache_b, node); }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("__GFP_NOFAIL allocation", @"void f() { var p = kmalloc(64, GFP_KERNEL | __GFP_NOFAIL); memset(p, 0, 64); kfree(p); }"),
        Case("if (p == NULL) return", @"void f() { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return; memset(p, 0, 64); kfree(p); }"),
        Case("if (!ZERO_OR_NULL_PTR(p))", @"void f() { var p = kmalloc(64, GFP_KERNEL); if (!ZERO_OR_NULL_PTR(p)) { memset(p, 0, 64); } kfree(p); }"),
        Case("IS_ERR_OR_NULL guard", @"void f() { var p = kmalloc(64, GFP_KERNEL); if (IS_ERR_OR_NULL(p)) return; memset(p, 0, 64); kfree(p); }"),
        Case("IS_ERR check", @"kptr get() { var p = kmalloc(64, GFP_KERNEL); return p; } void f() { var p = get(); if (IS_ERR(p)) return; memset(p, 0, 8); }"),
        Case("p != NULL branch", @"void f() { var p = kzalloc(64, GFP_KERNEL); if (p != NULL) { ptr_ref<int>(p) = 3; kfree(p); } }"),
        Case("goto-style shared error exit", @"int f() { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) goto fail; memset(a, 0, 64); kfree(a); return 0; fail: return -ENOMEM; }"),
        Case("check through addr", @"void f() { var p = kmalloc(64, GFP_KERNEL); if (p.addr == 0) return; memset(p, 0, 64); kfree(p); }"),
        Case("pointer from a field", @"void f() { memset(buf, 0, 64); }"),
        Case("ternary guard", @"int f() { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; obj = p; memset(obj, 0, 8); return 0; }"),
        Case("krealloc checked before it replaces the old buffer", @"int f() { var grown = krealloc(buf, 128, GFP_KERNEL); if (grown == NULL) return -ENOMEM; buf = grown; memset(grown, 0, 128); return 0; }"),
        Case("each of two allocations checked before use", @"int f() { var rx = kmalloc(64, GFP_KERNEL); if (rx == NULL) return -ENOMEM; var tx = kmalloc(64, GFP_KERNEL); if (tx == NULL) { kfree(rx); return -ENOMEM; } memset(rx, 0, 64); memset(tx, 0, 64); kfree(tx); kfree(rx); return 0; }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<UseBeforeNullCheckAnalyzer>.Diagnostics(Caches(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<UseBeforeNullCheckAnalyzer>.NoDiagnostics(Caches(markup));
    }

    [Fact]
    public void Message_names_the_allocation_and_the_accessor()
    {
        Verify<UseBeforeNullCheckAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    void f()
    {
        var p = kmalloc(64, GFP_KERNEL);
        memset({|#0:p|}, 0, 64);
    }
}", Expected.Diagnostic("KH3002", 0).WithMessage("p from kmalloc() (at Driver.cs:6) is passed to memset() before it is checked against NULL; the allocation can fail"));
    }
}
