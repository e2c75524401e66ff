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
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("same dev_id", Isr + @"int probe() => request_irq(irq, isr, IRQF_SHARED, ""d"", this); void remove() { free_irq(irq, this); }"),
        Case("same field", Isr + @"int probe() => request_irq(irq, isr, IRQF_SHARED, ""d"", dev); void remove() { free_irq(irq, dev); }"),
        Case("irq never requested in the compilation", @"void remove(uint other) { free_irq(other, this); }"),
        Case("another irq", Isr + @"int probe() => request_irq(7, isr, 0, ""d"", this); void remove() { free_irq(8, dev); }"),
        Case("dev_id not resolvable", Isr + @"object? cookie() => this; int probe() => request_irq(irq, isr, 0, ""d"", cookie()); void remove() { free_irq(irq, this); }"),
        Case("one of two requests matches", Isr + @"int a() => request_irq(irq, isr, IRQF_SHARED, ""a"", this); int b() => request_irq(irq, isr, IRQF_SHARED, ""b"", dev); void remove() { free_irq(irq, dev); free_irq(irq, this); }"),
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
