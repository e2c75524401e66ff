using System.Collections.Generic;
using KernelHarness.Analyzers.CodeFixes;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH6001Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("current.mm == init_mm", @"bool is_kthread() => [|current.mm == init_mm|];"),
        Case("current.mm != init_mm", @"bool is_user() => [|current.mm != init_mm|];"),
        Case("init_mm on the left", @"bool f() => [|init_mm == current.mm|];"),
        Case("another task's mm", @"bool f(task_struct t) => [|t.mm == init_mm|];"),
        Case("in a condition", @"int f() { if ([|current.mm == init_mm|]) return -EINVAL; return 0; }"),
        Case("a local holding current.mm", @"int f() { var mm = current.mm; if ([|mm == init_mm|]) return -EINVAL; return 0; }"),
        Case("the parent task's mm", @"bool parent_is_kthread(task_struct t) => [|t.parent!.mm == init_mm|];"),
        Case("a ternary picking the user address limit", @"ulong limit() => [|current.mm == init_mm|] ? 0 : current.mm!.task_size;"),
        Case("a local holding another task's mm", @"int f(task_struct t) { var mm = t.mm; if ([|mm != init_mm|]) count++; return 0; }"),
        Case("an early return in a work item", @"void f() { INIT_WORK(work, w => { if ([|current.mm == init_mm|]) return; count++; }); }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("current.mm == null", @"bool f() => current.mm == null;"),
        Case("current.mm is null", @"bool f() => current.mm is null;"),
        Case("active_mm compared with init_mm", @"bool f() => current.active_mm == init_mm;"),
        Case("two task mms", @"bool f(task_struct t) => t.mm == current.mm;"),
        Case("a local a deconstruction may give another mm", @"bool f(mm_struct other) { var mm = current.mm; int n = 0; if (mm == null) (mm, n) = (other, 1); return n == 0 && mm == init_mm; }"),
        Case("a local that may hold another mm by the time it is compared", @"bool f(mm_struct other) { var mm = current.mm; if (mm == null) mm = other; return mm == init_mm; }"),
        Case("a page-table walker's mm parameter", @"bool kernel_range(mm_struct mm) => mm == init_mm;"),
        Case("PF_KTHREAD flag test", @"bool is_kthread() => (current.flags & PF_KTHREAD) != 0;"),
        Case("a local holding active_mm compared with init_mm", @"bool lazy_tlb() { var mm = current.active_mm; return mm == init_mm; }"),
        Case("init_mm's own page tables read", @"object? kernel_pgd() => init_mm.pgd;"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<InitMmUserContextTestAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<InitMmUserContextTestAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }

    [Fact]
    public void Message_gives_the_right_test()
    {
        Verify<InitMmUserContextTestAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    bool f() => {|#0:current.mm != init_mm|};
}", Expected.Diagnostic("KH6001", 0).WithMessage("'current.mm != init_mm' does not tell a kernel thread from a user task: kernel threads have mm == null; test 'current.mm != null'"));
    }

    [Fact]
    public void Fix_compares_a_local_holding_the_mm_with_null()
    {
        const string before = @"
public sealed class Driver
{
    bool a() { var mm = current.mm; return mm == init_mm; }
}";
        const string after = @"
public sealed class Driver
{
    bool a() { var mm = current.mm; return mm == null; }
}";
        Verify<InitMmUserContextTestAnalyzer>.CodeFix<InitMmCodeFixProvider>(before, after, after, InitMmCodeFixProvider.EquivalenceKey);
    }

    [Fact]
    public void Fix_compares_with_null()
    {
        const string before = @"
public sealed class Driver
{
    bool a() => current.mm == init_mm;
    bool b() => init_mm != current.mm;
}";
        const string afterOne = @"
public sealed class Driver
{
    bool a() => current.mm == null;
    bool b() => init_mm != current.mm;
}";
        const string afterAll = @"
public sealed class Driver
{
    bool a() => current.mm == null;
    bool b() => null != current.mm;
}";
        Verify<InitMmUserContextTestAnalyzer>.CodeFix<InitMmCodeFixProvider>(before, afterOne, afterAll, InitMmCodeFixProvider.EquivalenceKey);
    }
}
