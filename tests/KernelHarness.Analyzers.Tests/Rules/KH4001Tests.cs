using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH4001Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("request_irq shared with null", @"irqreturn_t isr(int i, object? d) => d is null ? IRQ_NONE : IRQ_HANDLED; int f() => [|request_irq(irq, isr, IRQF_SHARED, ""dev"", null)|];"),
        Case("shared among other flags", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int f() => [|request_irq(irq, isr, IRQF_SHARED | IRQF_TRIGGER_HIGH, ""dev"", null)|];"),
        Case("request_threaded_irq shared with null", @"irqreturn_t isr(int i, object? d) => IRQ_WAKE_THREAD; irqreturn_t th(int i, object? d) => IRQ_HANDLED; int f() => [|request_threaded_irq(irq, isr, th, IRQF_SHARED, ""dev"", null)|];"),
        Case("threaded-only request (null primary handler, IRQF_ONESHOT) shared with null", @"irqreturn_t th(int i, object? d) => IRQ_HANDLED; int f() => [|request_threaded_irq(irq, null, th, IRQF_SHARED | IRQF_ONESHOT, ""ts"", null)|];"),
        Case("flags in a local constant", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int f() { const ulong flags = IRQF_SHARED | IRQF_TRIGGER_RISING; return [|request_irq(irq, isr, flags, ""dev"", null)|]; }"),
        Case("flags in a named constant of the driver", @"const ulong UART_IRQ_FLAGS = IRQF_TRIGGER_LOW | IRQF_SHARED; irqreturn_t isr(int i, object? d) => IRQ_NONE; int f() => [|request_irq(irq, isr, UART_IRQ_FLAGS, ""uart"", null)|];"),
        Case("return value checked in probe", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int probe() { int ret = [|request_irq(irq, isr, IRQF_SHARED, ""dev"", null)|]; if (ret != 0) return ret; count = 1; return 0; }"),
        Case("one request per vector in a loop", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int f() { for (uint v = 0; v < 4; v++) { int ret = [|request_irq(irq + v, isr, IRQF_SHARED, ""vec"", null)|]; if (ret != 0) return ret; } return 0; }"),
        Case("lambda handler shared with null", @"int f() => [|request_irq(irq, (i, d) => IRQ_NONE, IRQF_SHARED, ""dev"", null)|];"),
        Case("static init with no instance to pass", @"static irqreturn_t isr(int i, object? d) => IRQ_NONE; static int legacy_init(uint line) => [|request_irq(line, isr, IRQF_SHARED, ""legacy"", null)|];"),
        Case("null written as default", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int f() => [|request_irq(irq, isr, IRQF_SHARED, ""dev"", default)|];"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("shared with this", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int f() => request_irq(irq, isr, IRQF_SHARED, ""dev"", this);"),
        Case("not shared, null dev_id", @"irqreturn_t isr(int i, object? d) => IRQ_HANDLED; int f() => request_irq(irq, isr, 0, ""dev"", null);"),
        Case("flags not constant", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int f(ulong fl) => request_irq(irq, isr, fl, ""dev"", null);"),
        Case("shared with a field dev_id", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int f() => request_irq(irq, isr, IRQF_SHARED | IRQF_TRIGGER_LOW, ""dev"", dev);"),
        Case("request_threaded_irq shared with this", @"irqreturn_t isr(int i, object? d) => IRQ_WAKE_THREAD; irqreturn_t th(int i, object? d) => IRQ_HANDLED; int f() => request_threaded_irq(irq, isr, th, IRQF_SHARED | IRQF_ONESHOT, ""dev"", this);"),
        Case("threaded-only, not shared, null dev_id", @"irqreturn_t th(int i, object? d) => IRQ_HANDLED; int f() => request_threaded_irq(irq, null, th, IRQF_ONESHOT | IRQF_TRIGGER_FALLING, ""ts"", null);"),
        Case("edge-triggered line, not shared, null dev_id", @"irqreturn_t isr(int i, object? d) => IRQ_HANDLED; int f() => request_irq(irq, isr, IRQF_TRIGGER_RISING | IRQF_NO_SUSPEND, ""button"", null);"),
        Case("shared with a per-device object allocated in probe", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int probe() { var priv = new Device(); return request_irq(irq, isr, IRQF_SHARED, ""dev"", priv); }"),
        Case("shared with the device passed to probe", @"static irqreturn_t isr(int i, object? d) => IRQ_NONE; static int probe(Device pdev, uint line) => request_irq(line, isr, IRQF_SHARED, ""dev"", pdev);"),
        Case("shared with this cast to object", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int f() => request_irq(irq, isr, IRQF_SHARED, ""dev"", (object)this);"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<SharedIrqNullDevIdAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<SharedIrqNullDevIdAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }
}
