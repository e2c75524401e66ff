using Microsoft.CodeAnalysis;

namespace KernelHarness.Analyzers.Tests.Infrastructure;

/// <summary>
/// A driver in three files: the registration of a hard-IRQ handler in one, the handler in another, and in a
/// third the helper it calls, which allocates with GFP_KERNEL on one branch. The finding (KH1001 at the
/// handler's call of the helper) needs all three.
/// </summary>
public static class CrossFileProject
{
    public const string Registration = @"
public sealed class Driver
{
    private uint irq;
    public int probe(uint line) { irq = line; return request_irq(irq, Handlers.isr, 0, ""dev"", this); }
}";

    public const string Handler = @"
internal static class Handlers
{
    internal static irqreturn_t isr(int n, object? dev)
    {
        Helpers.refill();
        return IRQ_HANDLED;
    }
}";

    public const string Helper = @"
internal static class Helpers
{
    internal static kptr buf;
    internal static void refill()
    {
        if (buf == NULL)
            buf = kmalloc(128, GFP_KERNEL);
    }
}";

    public static Compilation Compile()
    {
        var compilation = TestProject.Compile(new[] { ("Driver.cs", Registration), ("Handlers.cs", Handler), ("Helpers.cs", Helper) });
        TestProject.AssertCompiles(compilation);
        return compilation;
    }
}
