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
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("shared with this", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int f() => request_irq(irq, isr, IRQF_SHARED, ""dev"", this);"),
        Case("not shared, null dev_id", @"irqreturn_t isr(int i, object? d) => IRQ_HANDLED; int f() => request_irq(irq, isr, 0, ""dev"", null);"),
        Case("flags not constant", @"irqreturn_t isr(int i, object? d) => IRQ_NONE; int f(ulong fl) => request_irq(irq, isr, fl, ""dev"", null);"),
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
