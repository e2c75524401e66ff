using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH4002Tests
{
    private const string Isr = @"irqreturn_t isr(int i, object? d) => d == this ? IRQ_HANDLED : IRQ_NONE; ";

    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("requested with this, freed with null", Isr + @"int probe() => request_irq(irq, isr, IRQF_SHARED, ""d"", this); void remove() { [|free_irq(irq, null)|]; }"),
        Case("requested with a field, freed with this", Isr + @"int probe() => request_irq(irq, isr, IRQF_SHARED, ""d"", dev); void remove() { [|free_irq(irq, this)|]; }"),
        Case("constant irq", Isr + @"int probe() => request_irq(7, isr, 0, ""d"", this); void remove() { [|free_irq(7, dev)|]; }"),
        Case("the same parameter", Isr + @"int probe(uint line) => request_irq(line, isr, 0, ""d"", dev); void remove(uint line) { [|free_irq(line, this)|]; }"),
        Case("a local with a single assignment", Isr + @"int probe() => request_irq(irq, isr, 0, ""d"", dev); void remove() { var cookie = this; [|free_irq(irq, cookie)|]; }"),
        Case("request_threaded_irq with this, freed with the field", Isr + @"irqreturn_t th(int i, object? d) => IRQ_HANDLED; int probe() => request_threaded_irq(irq, isr, th, IRQF_SHARED | IRQF_ONESHOT, ""d"", this); void remove() { [|free_irq(irq, dev)|]; }"),
        Case("probe's error unwinding frees with another cookie than it requested with", Isr + @"int probe() { int ret = request_irq(irq, isr, IRQF_SHARED, ""d"", dev); if (ret != 0) return ret; if (count == 0) { [|free_irq(irq, this)|]; return -ENODEV; } return 0; }"),
        Case("a named irq constant, freed with null", Isr + @"const uint UART_IRQ = 4; int probe() => request_irq(UART_IRQ, isr, IRQF_SHARED, ""uart"", this); void remove() { [|free_irq(UART_IRQ, null)|]; }"),
        Case("two requests of the line, freed with neither cookie", Isr + @"int a() => request_irq(irq, isr, IRQF_SHARED, ""a"", this); int b() => request_irq(irq, isr, IRQF_SHARED, ""b"", dev); void remove() { [|free_irq(irq, null)|]; }"),
        Case("requested with a local holding the field, freed with this", Isr + @"int probe() { var priv = dev; return request_irq(irq, isr, IRQF_SHARED, ""d"", priv); } void remove() { [|free_irq(irq, this)|]; }"),
        Case("freed with a freshly created object", Isr + @"int probe() => request_irq(irq, isr, IRQF_SHARED, ""d"", dev); void remove() { [|free_irq(irq, new Device())|]; }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("same dev_id", Isr + @"int probe() => request_irq(irq, isr, IRQF_SHARED, ""d"", this); void remove() { free_irq(irq, this); }"),
        Case("same field", Isr + @"int probe() => request_irq(irq, isr, IRQF_SHARED, ""d"", dev); void remove() { free_irq(irq, dev); }"),
        Case("irq never requested in the compilation", @"void remove(uint other) { free_irq(other, this); }"),
        Case("another irq", Isr + @"int probe() => request_irq(7, isr, 0, ""d"", this); void remove() { free_irq(8, dev); }"),
        Case("dev_id not resolvable", Isr + @"object? cookie() => this; int probe() => request_irq(irq, isr, 0, ""d"", cookie()); void remove() { free_irq(irq, this); }"),
        Case("one of two requests matches", Isr + @"int a() => request_irq(irq, isr, IRQF_SHARED, ""a"", this); int b() => request_irq(irq, isr, IRQF_SHARED, ""b"", dev); void remove() { free_irq(irq, dev); free_irq(irq, this); }"),
        Case("request_threaded_irq and free_irq with the same field", Isr + @"irqreturn_t th(int i, object? d) => IRQ_HANDLED; int probe() => request_threaded_irq(irq, isr, th, IRQF_SHARED | IRQF_ONESHOT, ""d"", dev); void remove() { free_irq(irq, dev); }"),
        Case("two lines in two fields, each freed with its own cookie", Isr + @"uint rx_irq, tx_irq; int probe() { int ret = request_irq(rx_irq, isr, 0, ""rx"", this); if (ret != 0) return ret; return request_irq(tx_irq, isr, 0, ""tx"", dev); } void remove() { free_irq(tx_irq, dev); free_irq(rx_irq, this); }"),
        Case("probe's error unwinding frees with the cookie it requested with", Isr + @"int probe() { int ret = request_irq(irq, isr, IRQF_SHARED, ""d"", dev); if (ret != 0) return ret; if (count == 0) { free_irq(irq, dev); return -ENODEV; } return 0; }"),
        Case("a named irq constant with the same dev_id", Isr + @"const uint UART_IRQ = 4; int probe() => request_irq(UART_IRQ, isr, IRQF_SHARED, ""uart"", this); void remove() { free_irq(UART_IRQ, this); }"),
        Case("freed with the dev_id cast to object", Isr + @"int probe() => request_irq(irq, isr, IRQF_SHARED, ""d"", dev); void remove() { free_irq(irq, (object)dev); }"),
        Case("freed through a local holding the requested cookie", Isr + @"int probe() => request_irq(irq, isr, IRQF_SHARED, ""d"", this); void remove() { var cookie = this; synchronize_irq(irq); free_irq(irq, cookie); }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<FreeIrqDevIdMismatchAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<FreeIrqDevIdMismatchAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }

    [Fact]
    public void Message_points_at_the_request()
    {
        Verify<FreeIrqDevIdMismatchAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    uint irq;
    irqreturn_t isr(int i, object? d) => IRQ_NONE;
    int probe() => request_irq(irq, isr, IRQF_SHARED, ""d"", this);
    void remove() { {|#0:free_irq(irq, null)|}; }
}", Expected.Diagnostic("KH4002", 0).WithMessage("free_irq(irq, null) does not match any request of irq irq: it was requested with dev_id this (at Driver.cs:6)"));
    }
}
