'use client'
/**
 * The user's name, shared by the "Your name" field and every vote and done
 * button, so a vote is credited to the name typed there even before a first
 * post. Starts from the name this browser last used (a cookie read on the server).
 */
import { createContext, type ReactNode, useContext, useState } from 'react'

const NameContext = createContext<[string, (name: string) => void]>(['', () => {}])

export function NameProvider({ initial, children }: { initial: string; children: ReactNode }) {
  const state = useState(initial)
  return <NameContext.Provider value={state}>{children}</NameContext.Provider>
}

export function useName(): [string, (name: string) => void] {
  return useContext(NameContext)
}
