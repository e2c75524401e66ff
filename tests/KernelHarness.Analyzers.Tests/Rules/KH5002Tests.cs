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
        Case("a while loop that counts its tries", Fields + @"void f() { var w = new wait_queue_entry(); int tries = 0; while (tries++ < 5) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); [|schedule()|]; } finish_wait(wq, w); }"),
        Case("a while loop on a local flag nothing sets", Fields + @"void f() { var w = new wait_queue_entry(); bool done = false; while (!done) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); [|schedule()|]; } finish_wait(wq, w); }"),
        Case("an endless loop that leaves on its own counter", Fields + @"void f() { var w = new wait_queue_entry(); for (int i = 0; ; i++) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (i > 3) break; [|schedule()|]; } finish_wait(wq, w); }"),
        Case("a while loop on a local the loop only adds to", Fields + @"void f() { var w = new wait_queue_entry(); int waited = 0; while (waited < 100) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); [|schedule()|]; waited += 10; } finish_wait(wq, w); }"),
        Case("a while loop on a by-value parameter", Fields + @"void f(bool stop) { var w = new wait_queue_entry(); while (!stop) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); [|schedule()|]; } finish_wait(wq, w); }"),
        Case("schedule once after prepare_to_wait", Fields + @"void f() { var w = new wait_queue_entry(); prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (!ready) [|schedule()|]; finish_wait(wq, w); }"),
        Case("schedule_timeout once", Fields + @"void f() { var w = new wait_queue_entry(); prepare_to_wait_exclusive(wq, w, TASK_UNINTERRUPTIBLE); [|schedule_timeout((long)HZ)|]; finish_wait(wq, w); }"),
        Case("a loop over devices is not a re-check", Fields + @"int[] devs = new int[4]; void f() { var w = new wait_queue_entry(); foreach (var d in devs) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); [|schedule()|]; } finish_wait(wq, w); }"),
        Case("a counting loop is not a re-check", Fields + @"void f() { var w = new wait_queue_entry(); for (int i = 0; i < 3; i++) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); [|schedule()|]; } finish_wait(wq, w); }"),
        Case("an endless loop that never tests", Fields + @"void f() { var w = new wait_queue_entry(); while (true) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); [|schedule()|]; } }"),
        Case("in the else branch", Fields + @"void f() { var w = new wait_queue_entry(); prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (ready) { finish_wait(wq, w); return; } else [|schedule()|]; finish_wait(wq, w); }"),
        Case("in a work item", Fields + @"readonly work_struct wait_work = new(); void init() => INIT_WORK(wait_work, x => { var w = new wait_queue_entry(); prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); [|schedule()|]; finish_wait(wq, w); });"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("a local the loop sets from the device flag", Fields + @"void f() { var w = new wait_queue_entry(); bool done = false; while (!done) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); done = ready; if (!done) schedule(); } finish_wait(wq, w); }"),
        Case("a local a deconstruction sets from the device flag", Fields + @"void f() { var w = new wait_queue_entry(); bool done = false; int seen = 0; while (!done) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); (done, seen) = (ready, seen + 1); if (!done) schedule(); } finish_wait(wq, w); }"),
        Case("a local a helper sets through out", Fields + @"void poll_ready(out bool r) { r = ready; } void f() { var w = new wait_queue_entry(); bool done = false; while (!done) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); poll_ready(out done); if (!done) schedule(); } finish_wait(wq, w); }"),
        Case("a local a callback sets", Fields + @"readonly work_struct kick = new(); void f() { var w = new wait_queue_entry(); bool done = false; INIT_WORK(kick, x => { done = true; wake_up(wq); }); while (!done) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); schedule(); } finish_wait(wq, w); }"),
        Case("a loop until kthread_should_stop", Fields + @"void f() { var w = new wait_queue_entry(); while (!kthread_should_stop()) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); schedule(); } finish_wait(wq, w); }"),
        Case("a counting loop that also leaves on a signal", Fields + @"void f() { var w = new wait_queue_entry(); for (int i = 0; i < 10; i++) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (ready || signal_pending(current)) break; schedule(); } finish_wait(wq, w); }"),
        Case("LKD chapter 4 loop", Fields + @"void f() { var w = new wait_queue_entry(); while (true) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (ready) break; if (signal_pending(current)) break; schedule(); } finish_wait(wq, w); }"),
        Case("for (;;) loop", Fields + @"void f() { var w = new wait_queue_entry(); for (;;) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (ready) break; schedule(); } finish_wait(wq, w); }"),
        Case("while (!condition) loop", Fields + @"void f() { var w = new wait_queue_entry(); prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); while (!ready) { schedule(); prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); } finish_wait(wq, w); }"),
        Case("goto-based retry", Fields + @"void f() { var w = new wait_queue_entry(); again: prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (!ready) { schedule(); goto again; } finish_wait(wq, w); }"),
        Case("wait_event", Fields + @"void f() { wait_event(wq, () => ready); }"),
        Case("wait_event_interruptible", Fields + @"int f() => wait_event_interruptible(wq, () => ready);"),
        Case("schedule without prepare_to_wait", @"void f() { schedule(); }"),
        Case("do-while re-testing", Fields + @"void f() { var w = new wait_queue_entry(); do { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (!ready) schedule(); } while (!ready); finish_wait(wq, w); }"),
        Case("for with only a condition", Fields + @"void f() { var w = new wait_queue_entry(); for (; !ready; ) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); schedule(); } finish_wait(wq, w); }"),
        Case("counting loop that leaves when the condition holds", Fields + @"void f() { var w = new wait_queue_entry(); for (int i = 0; i < 100; i++) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (ready) break; schedule(); } finish_wait(wq, w); }"),
        Case("endless loop that returns when the condition holds", Fields + @"int f() { var w = new wait_queue_entry(); while (true) { prepare_to_wait(wq, w, TASK_INTERRUPTIBLE); if (ready) { finish_wait(wq, w); return 0; } schedule(); } }"),
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
