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
        Case("kthread main loop", @"int worker(object? data) { while (!kthread_should_stop()) { count = [|current.mm.map_count|]; msleep(10); } return 0; } void f() { kthread_run(worker, null, ""poll""); }"),
        Case("helper two calls deep from a kernel thread", @"ulong vm_size() => [|current.mm.total_vm|]; int stats() => (int)vm_size(); int worker(object? data) { count = stats(); return 0; } void f() { kthread_run(worker, null, ""stats""); }"),
        Case("work function registered as a method group", @"void handler(work_struct w) { count = (int)[|current.mm.start_stack|]; } void f() { INIT_WORK(work, handler); schedule_work(work); }"),
        Case("a kernel thread taking its own mmap_lock: each statement a finding", @"int worker(object? data) { down_read([|current.mm.mmap_lock|]); count = 1; up_read([|current.mm.mmap_lock|]); return 0; } void f() { kthread_run(worker, null, ""walk""); }"),
        Case("kthread_run with a lambda", @"void f() { kthread_run(data => { count = (int)[|current.mm.task_size|]; return 0; }, null, ""k""); }"),
        Case("active_mm checked, mm dereferenced", @"void f() { INIT_WORK(work, w => { if (current.active_mm == null) return; count = [|current.mm.map_count|]; }); }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("null check first", @"int worker(object? data) { if (current.mm == null) return 0; count = current.mm.map_count; return 0; } void f() { kthread_run(worker, null, ""w""); }"),
        Case("active_mm", @"int worker(object? data) { count = current.active_mm!.map_count; return 0; } void f() { kthread_run(worker, null, ""w""); }"),
        Case("not reachable from a kernel thread", @"public int syscall() => current.mm!.map_count;"),
        Case("null-conditional access", @"void f() { INIT_WORK(work, w => { count = current.mm?.map_count ?? 0; }); }"),
        Case("helper with its own null check, called from a work item", @"int users() { if (current.mm == null) return 0; return current.mm.mm_users; } void f() { INIT_WORK(work, w => { count = users(); }); }"),
        Case("kernel thread reading only its pid and comm", @"int worker(object? data) { count = current.pid + current.comm.Length; return 0; } void f() { kthread_run(worker, null, ""w""); }"),
        Case("dereference inside an if (current.mm != null)", @"int worker(object? data) { if (current.mm != null) count = current.mm.map_count; return 0; } void f() { kthread_run(worker, null, ""w""); }"),
        Case("ternary null check", @"void f() { INIT_WORK(work, w => { count = current.mm == null ? 0 : current.mm.map_count; }); }"),
        Case("is null early return", @"int worker(object? data) { if (current.mm is null) return -EINVAL; count = (int)current.mm.brk; return 0; } void f() { kthread_run(worker, null, ""w""); }"),
        Case("another task's mm, pinned with mmget_not_zero", @"task_struct? target; void f() { INIT_WORK(work, w => { var mm = target!.mm; if (mm == null || !mmget_not_zero(mm)) return; count = mm.map_count; mmput(mm); }); }"),
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
