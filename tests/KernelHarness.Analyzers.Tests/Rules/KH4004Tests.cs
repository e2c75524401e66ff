using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH4004Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("static handler that always claims", @"static irqreturn_t isr(int i, object? d) { tasklet_hi(); return IRQ_HANDLED; } static void tasklet_hi() { } int f() => request_irq(irq, [|isr|], IRQF_SHARED, ""d"", this);"),
        Case("lambda that always claims", @"int f() => request_irq(irq, [|(i, d) => IRQ_HANDLED|], IRQF_SHARED, ""d"", dev);"),
        Case("static handler on a field dev_id", @"static int hits; static irqreturn_t isr(int i, object? d) { hits++; return IRQ_HANDLED; } int f() => request_irq(irq, [|isr|], IRQF_SHARED | IRQF_TRIGGER_LOW, ""d"", dev);"),
        Case("handler stored in a field, then registered", @"irq_handler_t? handler; static irqreturn_t isr(int i, object? d) => IRQ_HANDLED; void init() { handler = isr; } int f() => request_irq(irq, [|handler|]!, IRQF_SHARED, ""d"", dev);"),
        Case("lambda stored by a field initializer", @"private readonly irq_handler_t quick = (i, d) => IRQ_HANDLED; int f() => request_irq(irq, [|quick|], IRQF_SHARED, ""d"", dev);"),
        Case("lambda stored by a property initializer", @"private irq_handler_t Quick { get; } = (i, d) => IRQ_HANDLED; int f() => request_irq(irq, [|Quick|], IRQF_SHARED, ""d"", dev);"),
        Case("lambda that always claims, with a null dev_id too", @"int f() => request_irq(irq, [|(i, d) => IRQ_HANDLED|], IRQF_SHARED, ""d"", null);"),
        Case("primary handler of a threaded request that always claims", @"static irqreturn_t hard(int i, object? d) => IRQ_HANDLED; irqreturn_t th(int i, object? d) => busy ? IRQ_HANDLED : IRQ_NONE; int f() => request_threaded_irq(irq, [|hard|], th, IRQF_SHARED, ""d"", this);"),
        Case("branches on the irq number only, claims on both", @"static int low, high; static irqreturn_t isr(int i, object? d) { if (i < 16) { low++; return IRQ_HANDLED; } high++; return IRQ_HANDLED; } int f() => request_irq(irq, [|isr|], IRQF_SHARED, ""d"", dev);"),
        Case("defers everything to a tasklet without asking the device", @"irqreturn_t isr(int i, object? d) { tasklet_schedule(tasklet); return IRQ_HANDLED; } int f() => request_irq(irq, [|isr|], IRQF_SHARED, ""d"", dev);"),
        Case("only logs and claims", @"static irqreturn_t isr(int i, object? d) { printk(KERN_DEBUG + ""irq""); return IRQ_HANDLED; } int f() => request_irq(irq, [|isr|], IRQF_SHARED | IRQF_TRIGGER_HIGH, ""d"", dev);"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("reads its device through dev_id", @"static irqreturn_t isr(int i, object? d) { if (d is Device dv && dv.count == 0) return IRQ_HANDLED; return IRQ_HANDLED; } int f() => request_irq(irq, isr, IRQF_SHARED, ""d"", dev);"),
        Case("returns IRQ_NONE on some path", @"static irqreturn_t isr(int i, object? d) => i > 3 ? IRQ_NONE : IRQ_HANDLED; int f() => request_irq(irq, isr, IRQF_SHARED, ""d"", dev);"),
        Case("instance handler reading this, registered with this", @"irqreturn_t isr(int i, object? d) { if (!busy) count++; return IRQ_HANDLED; } int f() => request_irq(irq, isr, IRQF_SHARED, ""d"", this);"),
        Case("helper call on the device", @"static bool pending(Device d) => d.count > 0; static irqreturn_t isr(int i, object? d) { pending((Device)d!); return IRQ_HANDLED; } int f() => request_irq(irq, isr, IRQF_SHARED, ""d"", dev);"),
        Case("not shared", @"int f() => request_irq(irq, (i, d) => IRQ_HANDLED, 0, ""d"", dev);"),
        Case("handler stored in a field reads its device", @"irq_handler_t? handler; static irqreturn_t isr(int i, object? d) => d is Device { count: > 0 } ? IRQ_HANDLED : IRQ_NONE; void init() { handler = isr; } int f() => request_irq(irq, handler!, IRQF_SHARED, ""d"", dev);"),
        Case("a field that may hold either of two handlers", @"irq_handler_t? handler; static irqreturn_t a(int i, object? d) => IRQ_HANDLED; irqreturn_t b(int i, object? d) => busy ? IRQ_HANDLED : IRQ_NONE; void init(bool x) { if (x) handler = a; else handler = b; } int f() => request_irq(irq, handler!, IRQF_SHARED, ""d"", dev);"),
        Case("thread_fn is not the hard-IRQ handler", @"int f() => request_threaded_irq(irq, (i, d) => d == dev ? IRQ_WAKE_THREAD : IRQ_NONE, (i, d) => IRQ_HANDLED, IRQF_SHARED, ""d"", dev);"),
        Case("asks the device through an instance helper, registered with this", @"bool pending() => count > 0; irqreturn_t isr(int i, object? d) { if (!pending()) return IRQ_NONE; count = 0; return IRQ_HANDLED; } int f() => request_irq(irq, isr, IRQF_SHARED, ""d"", this);"),
        Case("primary handler that always wakes the thread", @"irqreturn_t th(int i, object? d) => IRQ_HANDLED; int f() => request_threaded_irq(irq, (i, d) => IRQ_WAKE_THREAD, th, IRQF_SHARED | IRQF_ONESHOT, ""d"", dev);"),
        Case("threaded-only request: no hard-IRQ handler written", @"irqreturn_t th(int i, object? d) => IRQ_HANDLED; int f() => request_threaded_irq(irq, null, th, IRQF_SHARED | IRQF_ONESHOT, ""d"", dev);"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<SharedHandlerClaimsEverythingAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<SharedHandlerClaimsEverythingAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }
}
