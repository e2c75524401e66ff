using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH4003Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("current.pid in a hard-IRQ handler", @"int last; irqreturn_t isr(int i, object? d) { last = [|current.pid|]; return IRQ_HANDLED; } int f() => request_irq(irq, isr, 0, ""d"", this);"),
        Case("current.mm in a tasklet", @"void poll() { if ([|current.mm|] == null) count++; } void f() { tasklet_setup(tasklet, t => poll()); }"),
        Case("current in a timer lambda", @"void f() { timer_setup(timer, t => { printk([|current.comm|]); }, 0); }"),
        Case("current in a helper the handler calls", @"int last; void note() { last = [|current.pid|]; } irqreturn_t isr(int i, object? d) { note(); return IRQ_HANDLED; } int f() => request_irq(irq, isr, 0, ""d"", this);"),
        Case("current two calls below a tasklet", @"void account() { count += [|current.pid|]; } void step() => account(); void f() { tasklet_setup(tasklet, t => step()); }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("in_task()-guarded read", @"int last; irqreturn_t isr(int i, object? d) { if (in_task()) last = current.pid; return IRQ_HANDLED; } int f() => request_irq(irq, isr, 0, ""d"", this);"),
        Case("current in a work item", @"void f() { INIT_WORK(work, w => { count = current.pid; }); }"),
        Case("current in process context", @"int f() => current.pid;"),
        Case("helper called only from process context", @"void note() { count = current.pid; } int f() { note(); return 0; }"),
        Case("helper called from a handler under in_task()", @"void note() { count = current.pid; } irqreturn_t isr(int i, object? d) { if (in_task()) note(); return IRQ_HANDLED; } int f() => request_irq(irq, isr, 0, ""d"", this);"),
        Case("threaded handler's thread_fn", @"irqreturn_t top(int i, object? d) => IRQ_WAKE_THREAD; irqreturn_t th(int i, object? d) { count = current.pid; return IRQ_HANDLED; } int f() => request_threaded_irq(irq, top, th, 0, ""d"", this);"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<CurrentInInterruptAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<CurrentInInterruptAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }
}
