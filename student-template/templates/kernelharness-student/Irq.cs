using System;
using KernelHarness;
using KernelHarness.Subsystems;

namespace StudentKernel;

/// <summary>
/// Your implementation of the <c>irq</c> subsystem (<see cref="IIrq"/>). Every member below is a stub
/// that fails with a message naming the function: replace each body with your implementation.
/// The public conformance tests run it on a fresh simulated machine: <c>dotnet test</c>.
/// Keep the public parameterless constructor, and do not call the kernel API from it.
/// </summary>
public sealed class StudentIrq : IIrq
{
    /// <summary>Adds a hard-IRQ handler to line <paramref name="irq"/>; 0 or a negative errno.</summary>
    public int request_irq(uint irq, irq_handler_t handler, ulong flags, string name, object? dev)
    {
        throw Todo("request_irq", "include/linux/interrupt.h");
    }

    /// <summary>Adds a handler whose <paramref name="thread_fn"/> runs in a kernel thread (process context) when <paramref name="handler"/> returns <c>IRQ_WAKE_THREAD</c>.</summary>
    public int request_threaded_irq(uint irq, irq_handler_t? handler, irq_handler_t? thread_fn, ulong flags, string name, object? dev)
    {
        throw Todo("request_threaded_irq", "kernel/irq/manage.c");
    }

    /// <summary>Removes the action whose <c>dev_id</c> is <paramref name="dev_id"/>; returns its name, or null (with a warning) when none matches.</summary>
    public string? free_irq(uint irq, object? dev_id)
    {
        throw Todo("free_irq", "kernel/irq/manage.c");
    }

    /// <summary>Disables a line (nesting) and waits for running handlers to finish.</summary>
    public void disable_irq(uint irq)
    {
        throw Todo("disable_irq", "kernel/irq/manage.c");
    }

    /// <summary>Disables a line (nesting) without waiting.</summary>
    public void disable_irq_nosync(uint irq)
    {
        throw Todo("disable_irq_nosync", "kernel/irq/manage.c");
    }

    /// <summary>Undoes one <c>disable_irq</c>; warns "Unbalanced enable for IRQ N" at depth 0.</summary>
    public void enable_irq(uint irq)
    {
        throw Todo("enable_irq", "kernel/irq/manage.c");
    }

    /// <summary>Waits until no handler of the line runs on any CPU and no threaded handler is active.</summary>
    public void synchronize_irq(uint irq)
    {
        throw Todo("synchronize_irq", "kernel/irq/manage.c");
    }

    /// <summary>Runs every action of the line for one interrupt (called by the interrupt controller in hard-IRQ context).</summary>
    public int generic_handle_irq(uint irq)
    {
        throw Todo("generic_handle_irq", "kernel/irq/irqdesc.c");
    }

    /// <summary>The descriptor of a line, or null.</summary>
    public irq_desc? irq_to_desc(uint irq)
    {
        throw Todo("irq_to_desc", "kernel/irq/irqdesc.c");
    }

    private static NotImplementedException Todo(string function, string linux) =>
        new($"{function}() is not implemented yet: write it in Irq.cs (in Linux: {linux}). See README.md.");
}
