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
        Case("a read outside the in_task() branch of the same handler", @"int last, owner; irqreturn_t isr(int i, object? d) { if (in_task()) last = current.pid; owner = [|current.pid|]; return IRQ_HANDLED; } int f() => request_irq(irq, isr, 0, ""d"", this);"),
        Case("a read in the else branch of if (in_task())", @"int last; irqreturn_t isr(int i, object? d) { if (in_task()) last = 0; else last = [|current.pid|]; return IRQ_HANDLED; } int f() => request_irq(irq, isr, 0, ""d"", this);"),
        Case("a read before the early exit on !in_task()", @"int last; void poll() { last = [|current.pid|]; if (!in_task()) return; last++; } void f() { tasklet_setup(tasklet, t => poll()); }"),
        Case("a read on the || side where in_task() was false", @"void poll() { if (in_task() || [|current.pid|] == 0) count++; } void f() { tasklet_setup(tasklet, t => poll()); }"),
        Case("a read after a label the early exit's goto reaches", @"int last; void poll() { if (!in_task()) goto done; last = current.pid; done: last += [|current.pid|]; } void f() { tasklet_setup(tasklet, t => poll()); }"),
        Case("a timer callback given as a method group", @"int owner; void on_timer(timer_list t) { owner = [|current.comm|].Length; } void f() { timer_setup(timer, on_timer, 0); }"),
        Case("current two calls below a tasklet", @"void account() { count += [|current.pid|]; } void step() => account(); void f() { tasklet_setup(tasklet, t => step()); }"),
        Case("current in a property getter the handler reads", @"int Owner => [|current.pid|]; int last; irqreturn_t isr(int i, object? d) { last = Owner; return IRQ_HANDLED; } int f() => request_irq(irq, isr, 0, ""d"", this);"),
        Case("current in a property setter a tasklet assigns", @"int owner; int Owner { get => owner; set { owner = value + [|current.pid|]; } } void poll() { Owner = 1; } void f() { tasklet_setup(tasklet, t => poll()); }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("in_task()-guarded read", @"int last; irqreturn_t isr(int i, object? d) { if (in_task()) last = current.pid; return IRQ_HANDLED; } int f() => request_irq(irq, isr, 0, ""d"", this);"),
        Case("a read after the early exit on !in_task()", @"int last; void poll() { if (!in_task()) return; last = current.pid; } void f() { tasklet_setup(tasklet, t => poll()); }"),
        Case("a read on the && side of in_task()", @"void poll() { if (in_task() && current.pid != 0) count++; } void f() { tasklet_setup(tasklet, t => poll()); }"),
        Case("a read in the true arm of in_task() ? :", @"int last; void poll() { last = in_task() ? current.pid : -1; } void f() { tasklet_setup(tasklet, t => poll()); }"),
        Case("a read in the else branch of if (!in_task())", @"int last; irqreturn_t isr(int i, object? d) { if (!in_task()) last = 0; else last = current.pid; return IRQ_HANDLED; } int f() => request_irq(irq, isr, 0, ""d"", this);"),
        Case("in_task() kept in a local: the function is taken as guarded", @"int last; void poll() { bool task = in_task(); if (task) last = current.pid; } void f() { tasklet_setup(tasklet, t => poll()); }"),
        Case("current in a work item", @"void f() { INIT_WORK(work, w => { count = current.pid; }); }"),
        Case("current in process context", @"int f() => current.pid;"),
        Case("helper called only from process context", @"void note() { count = current.pid; } int f() { note(); return 0; }"),
        Case("helper called from a handler under in_task()", @"void note() { count = current.pid; } irqreturn_t isr(int i, object? d) { if (in_task()) note(); return IRQ_HANDLED; } int f() => request_irq(irq, isr, 0, ""d"", this);"),
        Case("threaded handler's thread_fn", @"irqreturn_t top(int i, object? d) => IRQ_WAKE_THREAD; irqreturn_t th(int i, object? d) { count = current.pid; return IRQ_HANDLED; } int f() => request_threaded_irq(irq, top, th, 0, ""d"", this);"),
        Case("a property getter read only in process context", @"int Owner => current.pid; int f() => Owner + 1;"),
        Case("a property getter the handler reads under in_task()", @"int Owner => current.pid; int last; irqreturn_t isr(int i, object? d) { if (in_task()) last = Owner; return IRQ_HANDLED; } int f() => request_irq(irq, isr, 0, ""d"", this);"),
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
    [Fact]
    public void Message_names_a_property_getter_in_the_chain()
    {
        Verify<CurrentInInterruptAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    int last;
    int Owner => {|#0:current.pid|};
    irqreturn_t isr(int irq, object? dev_id) { last = Owner; return IRQ_HANDLED; }
    int probe(uint irq) => request_irq(irq, isr, 0, ""dev"", this);
}", Expected.Diagnostic("KH4003", 0).WithMessage(
            "current.pid is read in hard-IRQ context, where current is merely the interrupted task (Owner.get() is called from isr() at Driver.cs:6, and isr() runs in hard-IRQ context (the handler passed to request_irq() at Driver.cs:7))"));
    }
}
