using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH6002Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("kthread function", @"int worker(object? data) { count = [|current.mm.map_count|]; return 0; } void f() { kthread_run(worker, null, ""w""); }"),
        Case("two dereferences in one statement: one finding", @"void f() { INIT_WORK(work, w => { count = (int)([|current.mm.brk|] - current.mm.start_brk); }); }"),
        Case("work item lambda", @"void f() { INIT_WORK(work, w => { count = [|current.mm.mm_users|]; }); }"),
        Case("helper called from a work item", @"ulong base_of() => [|current.mm.mmap_base|]; void reset() { count = (int)base_of(); } void f() { INIT_WORK(work, w => reset()); }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("null check first", @"int worker(object? data) { if (current.mm == null) return 0; count = current.mm.map_count; return 0; } void f() { kthread_run(worker, null, ""w""); }"),
        Case("active_mm", @"int worker(object? data) { count = current.active_mm!.map_count; return 0; } void f() { kthread_run(worker, null, ""w""); }"),
        Case("not reachable from a kernel thread", @"public int syscall() => current.mm!.map_count;"),
        Case("null-conditional access", @"void f() { INIT_WORK(work, w => { count = current.mm?.map_count ?? 0; }); }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<KernelThreadMmDereferenceAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<KernelThreadMmDereferenceAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }
}
