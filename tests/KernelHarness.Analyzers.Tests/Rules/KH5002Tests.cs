using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH5002Tests
{
    private const string Fields = @"readonly wait_queue_head_t wq = new(); bool ready; ";

    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("schedule once after prepare_to_wait", Fields + @"void f() { var w = new wait_queue_entry(); prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (!ready) [|schedule()|]; finish_wait(wq, w); }"),
        Case("schedule_timeout once", Fields + @"void f() { var w = new wait_queue_entry(); prepare_to_wait_exclusive(wq, w, TASK_UNINTERRUPTIBLE); [|schedule_timeout((long)HZ)|]; finish_wait(wq, w); }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("LKD chapter 4 loop", Fields + @"void f() { var w = new wait_queue_entry(); while (true) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (ready) break; if (signal_pending(current)) break; schedule(); } finish_wait(wq, w); }"),
        Case("for (;;) loop", Fields + @"void f() { var w = new wait_queue_entry(); for (;;) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (ready) break; schedule(); } finish_wait(wq, w); }"),
        Case("while (!condition) loop", Fields + @"void f() { var w = new wait_queue_entry(); prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); while (!ready) { schedule(); prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); } finish_wait(wq, w); }"),
        Case("goto-based retry", Fields + @"void f() { var w = new wait_queue_entry(); again: prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (!ready) { schedule(); goto again; } finish_wait(wq, w); }"),
        Case("wait_event", Fields + @"void f() { wait_event(wq, () => ready); }"),
        Case("wait_event_interruptible", Fields + @"int f() => wait_event_interruptible(wq, () => ready);"),
        Case("schedule without prepare_to_wait", @"void f() { schedule(); }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<WaitWithoutRecheckAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<WaitWithoutRecheckAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }
}
