using System;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>
/// Stack room for questions about a callee. Each is asked from inside the walk of its caller's body, so a chain of
/// calls stacks one body's walk on another's: forty functions that each nest their call of the next 300 calls deep
/// overflowed the stack, and a stack overflow takes the compiler (or the IDE's analyzer host) down with it, which
/// no catch can stop. <see cref="CallStack.MaxDepth"/> bounds the chain and <see cref="CompilationIndex.MaxDepth"/>
/// each body, but not their product. So a question asked when this thread has used more than its share of stack
/// for KH questions goes to a fresh thread with a large stack, and the asker waits for the answer: the same answer,
/// computed the same way. Real call chains use a few kilobytes and never get there.
/// </summary>
internal static class StackRoom
{
    /// <summary>The stack of a thread started here (reserved address space; pages are used as the walk needs them).</summary>
    private const int LargeStack = 64 << 20;

    /// <summary>
    /// The share of a thread the driver lends (1 MB or more, some of it used before the KH rule was called): what is
    /// left must still hold one body's walk, which <see cref="CompilationIndex.MaxDepth"/> sizes for a 1 MB thread.
    /// A chain of ordinary functions uses a few kilobytes.
    /// </summary>
    private const long LentThreadShare = 64 << 10;

    /// <summary>The share of a thread started here: all but room for one more body's walk.</summary>
    private const long OwnThreadShare = LargeStack - (4 << 20);

    // Where this thread's KH questions began (the shallowest position one was asked at: the stack grows down), and
    // how far below that they may go.
    [ThreadStatic] private static long top;
    [ThreadStatic] private static long share;

    /// <summary>
    /// Marks where a rule's analysis begins on this thread (the driver's call): the stack below it is what the KH
    /// questions use. Without a mark, the first question asked on a thread marks it, which may be deeper than the
    /// analysis began, and the shallowest position seen since stands.
    /// </summary>
    public static void Enter() => Mark(Position());

    /// <summary>
    /// Answers a question about a callee: here, or on a fresh thread when this one has used its share of stack. The
    /// question's inputs come as <paramref name="input"/> to a static lambda, so that asking here (nearly always)
    /// allocates nothing: a lambda capturing the asker's parameters would cost an allocation on every call of the
    /// asker, cached answers included.
    /// </summary>
    public static TAnswer Answer<TInput, TAnswer>(TInput input, Func<TInput, TAnswer> question)
        => IsRunningLow() ? OnFreshThread(input, question) : question(input);

    // (The closure over the input is made here, only when the question moves.)
    private static TAnswer OnFreshThread<TInput, TAnswer>(TInput input, Func<TInput, TAnswer> question) => OnFreshThread(() => question(input));

    /// <summary>Has this thread used its share of stack, so that the next callee's question should go to a fresh thread?</summary>
    private static bool IsRunningLow()
    {
        long position = Position();
        Mark(position);
        return top - position > share;
    }

    private static void Mark(long position)
    {
        if (top == 0 || position > top)
        {
            top = position;
            if (share == 0)
                share = LentThreadShare;
        }
    }

    /// <summary>This frame's place on the stack (the address of a local).</summary>
    private static unsafe long Position()
    {
        byte here = 0;
        return (long)&here;
    }

    private static int moved;

    /// <summary>How many questions have gone to a fresh thread in this process (for tests and benchmarks).</summary>
    public static int Moved => Volatile.Read(ref moved);

    /// <summary>Answers <paramref name="question"/> on a fresh thread with a large stack, waiting for it.</summary>
    public static T OnFreshThread<T>(Func<T> question)
    {
        Interlocked.Increment(ref moved);
        T answer = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            top = 0;
            share = OwnThreadShare;
            try
            {
                answer = question();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        }, LargeStack)
        {
            IsBackground = true,
            Name = "KernelHarness deep call chain",
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return answer;
    }
}
