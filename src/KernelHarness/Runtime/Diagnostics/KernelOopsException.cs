using System;

namespace KernelHarness.Runtime;

/// <summary>
/// Thrown by <c>BUG_ON</c> and fatal kernel errors: it unwinds the current task, as Linux kills the
/// task that hit a BUG. The report is already in <see cref="Machine.Reports"/>.
/// </summary>
public sealed class KernelOopsException : Exception
{
    public KernelOopsException(string message) : base(message) { }
}
